using Horizon.Config;
using Horizon.Workloads;

namespace Horizon.Core.Tests;

public sealed class ConfigTests
{
    private static readonly Testbed Lab = TestbedFile.Parse("lab.yaml", TestbedFile.DefaultYaml(2));

    public static TheoryData<string> BrokenFiles() =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "BrokenFiles"), "*.yaml").Select(p => Path.GetFileName(p)!)];

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void Every_broken_file_names_file_line_and_field(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "BrokenFiles", name);
        var expect = File.ReadLines(path).First().Replace("# expect: ", "").Split(' ', 2);
        var e = Assert.Throws<ConfigException>(() =>
        {
            if (name.StartsWith("testbed", StringComparison.Ordinal))
            {
                TestbedFile.Load(path);
            }
            else
            {
                CampaignFile.Load(path, Lab);
            }
        });
        Assert.Equal(path, e.File);
        Assert.Equal(int.Parse(expect[0]), e.Line);
        Assert.Equal(expect[1], e.Field);
        Assert.StartsWith($"{path}:{expect[0]}:", e.Message);
    }

    [Fact]
    public void A_sweep_expands_into_one_experiment_per_combination_and_keeps_the_values()
    {
        var c = CampaignFile.Parse("c.yaml", """
            campaign: c
            experiments:
              - workload: command
                run: "stress -c {n} -t {t}"
                metrics: "ops=([0-9]+) ops"
                sweep:
                  n: [1, 2]
                  t: [5s, 10s]
              - workload: superpi
                sweep:
                  digits: [65536, 131072]
            """, Lab);
        var commands = c.Experiments.Where(e => e.Workload.Name == "command").Select(e => e.Workload.Parameters).ToList();
        Assert.Equal(4, commands.Count);
        Assert.Equal(["stress -c 1 -t 5s", "stress -c 1 -t 10s", "stress -c 2 -t 5s", "stress -c 2 -t 10s"], commands.Select(p => p["run"]));
        Assert.Equal(["n=1 t=5s", "n=1 t=10s", "n=2 t=5s", "n=2 t=10s"], commands.Select(p => p["variant"]));
        Assert.Equal(["65536", "131072"], c.Experiments.Where(e => e.Workload.Name == "superpi").Select(e => e.Workload.Parameters["digits"]));
        Assert.Equal(c.Experiments.Length, c.Experiments.Select(e => e.Key).Distinct().Count());
    }

    private static readonly Testbed WithPeer = TestbedFile.Parse("peer.yaml", """
        testbed: p
        hosts:
          - name: h
        guests:
          - name: r1
            host: h
            forward: { sink: 10.78.1.2, source_netns: src1, sink_netns: snk1 }
        peer:
          name: peer
          address: 10.77.0.2
        """);

    [Fact]
    public void Forward_runs_rfc2544_frame_sizes_unless_told_otherwise_and_sweeps_the_routing_table()
    {
        var c = CampaignFile.Parse("f.yaml", """
            campaign: f
            experiments:
              - workload: forward
              - workload: forward
                frame: 512
                routes: 100
              - workload: forward
                sweep: { routes: [10, 10000] }
            """, WithPeer);
        var frames = c.Experiments.Select(e => (e.Workload.Parameters["frame"], e.Workload.Parameters["routes"])).ToList();
        Assert.Equal(
            [("64", "1"), ("512", "1"), ("1518", "1"), ("512", "100"), ("64", "10"), ("512", "10"), ("1518", "10"), ("64", "10000"), ("512", "10000"), ("1518", "10000")],
            frames);
        Assert.Equal(new ForwardPath("10.78.1.2", "src1", "snk1"), WithPeer.Guest("r1").Forward);
        Assert.Equal(10, c.Experiments.Select(e => e.Key).Distinct().Count());
    }

    [Theory]
    [InlineData("frame: 40", 4, "experiments[0].frame", "must be at least 64")]
    [InlineData("frame: 9000", 4, "experiments[0].frame", "64..1518")]
    [InlineData("routes: 200000", 4, "experiments[0].routes", "131072")]
    [InlineData("rate: fast", 4, "experiments[0].rate", "expected auto or frames per second")]
    [InlineData("tolerance: 120", 4, "experiments[0].tolerance", "0..100")]
    [InlineData("sweep: { frame: [64, 2000] }", 4, "experiments[0].sweep.frame", "64..1518")]
    public void Forward_parameters_out_of_range_name_the_line_and_field(string line, int lineNumber, string field, string message)
    {
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("f.yaml", $"campaign: f\nexperiments:\n  - workload: forward\n    {line}\n", WithPeer));
        Assert.Equal(lineNumber, e.Line);
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_credit_share_is_part_of_the_plan_and_of_the_experiment_key()
    {
        var c = CampaignFile.Parse("s.yaml", """
            campaign: s
            cpu_cap: 50
            experiments:
              - workload: superpi
              - workload: superpi
                cpu_weight: 512
              - workload: masr
            """, Lab);
        Assert.Equal([new CpuShare(256, 50), new CpuShare(512, 50), new CpuShare(256, 50)], c.Experiments.Where(e => e.Guests[0] == c.Experiments[0].Guests[0]).Select(e => e.Share));
        Assert.Contains("|weight=512|cap=50", c.Experiments[1].Key, StringComparison.Ordinal);
        Assert.Null(CampaignFile.Parse("n.yaml", "campaign: n\nexperiments:\n  - workload: masr\n", Lab).Experiments[0].Share);
    }

    [Fact]
    public void Forward_needs_a_peer()
    {
        var e = Assert.Throws<ConfigException>(() => CampaignFile.Parse("f.yaml", "campaign: f\nexperiments:\n  - workload: forward\n", Lab));
        Assert.Contains("needs a network peer", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Command_metrics_are_read_from_the_output_by_the_given_regexes()
    {
        var spec = WorkloadCatalog.Create("command", new Dictionary<string, string> { ["run"] = "x", ["metrics"] = "rps=Requests/sec:\\s+([0-9.]+)\np99=99%\\s+([0-9.]+)ms" });
        var def = WorkloadCatalog.Get("command");
        Assert.True(def.Build(spec).ReportOutput);
        var m = def.ParseOutput(spec, "Latency 1ms\n  99%   12.5ms\nRequests/sec:  48123.7\n");
        Assert.Equal(48123.7, m["rps"], 6);
        Assert.Equal(12.5, m["p99"], 6);
        var missing = Assert.Throws<FormatException>(() => def.ParseOutput(spec, "nothing here"));
        Assert.Contains("'rps'", missing.Message, StringComparison.Ordinal);
        Assert.False(def.Build(WorkloadCatalog.Create("command", new Dictionary<string, string> { ["run"] = "x" })).ReportOutput);
    }

    [Fact]
    public void Default_testbed_is_this_machine_as_a_local_native_guest()
    {
        var t = TestbedFile.Default();
        var g = Assert.Single(t.Guests);
        Assert.Equal(Platform.Native, g.Platform);
        Assert.Equal(TransportKind.Local, g.Transport.Kind);
        Assert.Equal(Environment.ProcessorCount, g.Vcpus);
    }

    [Fact]
    public void A_full_testbed_reads_every_field()
    {
        var t = TestbedFile.Parse("t.yaml", """
            testbed: lab
            probes: { address: 10.9.0.1, port: 40000 }
            hosts:
              - name: xen1
                platform: xen
                transport: ssh
                ssh: { address: 10.9.0.2, user: root, key: /k, host_key: "SHA256:abc" }
            guests:
              - name: domu1
                host: xen1
                vcpus: 2
                workdir: /srv/h
                transport: ssh
                ssh: { address: 10.9.0.3, port: 2222, user: bench, known_hosts: /kh }
            peer:
              name: peer
              address: 10.9.0.9
            """);
        Assert.Equal(40000, t.ProbePort);
        Assert.Equal(Platform.Xen, t.Guests[0].Platform);
        Assert.Equal(2222, t.Guests[0].Transport.Port);
        Assert.Equal("SHA256:abc", t.Hosts[0].Transport.HostKeyFingerprint);
        Assert.Equal("10.9.0.9", t.Peer!.DataAddress);
    }

    [Theory]
    [InlineData("quick")]
    [InlineData("study")]
    public void Presets_cover_every_single_guest_workload_of_the_study(string preset)
    {
        var c = CampaignFile.LoadPreset(preset, Lab);
        var names = c.Experiments.Select(e => e.Workload.Name).ToHashSet();
        Assert.Superset(names, new HashSet<string> { "superpi", "masr", "bonnie", "zfg", "zfg-dirty", "zfg-rest", "kernel-build" });
    }

    [Fact]
    public void Study_preset_uses_the_study_sizes()
    {
        var c = CampaignFile.LoadPreset("study", Lab);
        WorkloadSpec W(string n) => c.Experiments.First(e => e.Workload.Name == n).Workload;
        Assert.Equal(4194304, W("superpi").GetLong("digits"));
        Assert.Equal(2L << 30, W("masr").GetLong("size"));
        Assert.Equal(2L << 30, W("zfg").GetLong("size"));
        Assert.Equal(10, W("zfg").GetLong("files"));
        Assert.Equal(TimeSpan.FromMinutes(2), W("zfg-rest").GetDuration("rest"));
        Assert.Equal(10, c.Experiments.First(e => e.Workload.Name == "superpi").Rounds.Max);
        Assert.True(c.Experiments.First(e => e.Workload.Name == "zfg").Rounds.IsAdaptive);
    }

    [Fact]
    public void The_multi_vm_preset_is_section_6_2_at_the_study_sizes()
    {
        var t = TestbedFile.Parse("four.yaml", """
            testbed: four
            hosts: [{ name: h }]
            guests: [{ name: a, host: h }, { name: b, host: h }, { name: c, host: h }, { name: d, host: h }]
            peer: { name: p, address: 10.0.0.9 }
            """);
        var c = CampaignFile.LoadPreset("multi-vm", t);
        Assert.Empty(c.Skipped);
        // Five workloads × guest counts 1-4 × three schemes, 10 rounds each, at the single-guest study's sizes.
        Assert.Equal(5 * 4 * 3, c.Experiments.Length);
        Assert.Equal([1, 2, 3, 4], c.Experiments.Select(e => e.Guests.Length).Distinct().Order());
        Assert.All(c.Experiments, e => Assert.Equal(10, e.Rounds.Max));
        Assert.Equal(4194304, c.Experiments.First(e => e.Workload.Name == "superpi").Workload.GetLong("digits"));
        Assert.Equal(3, c.Experiments.Where(e => e.Workload.Name == "iperf-udp" && e.Guests.Length == 4).Select(e => e.Scheme).Distinct().Count());
        Assert.Contains("multi-vm", CampaignFile.Presets);
    }

    [Fact]
    public void One_experiment_per_guest_unless_concurrent()
    {
        var t = TestbedFile.Parse("t.yaml", """
            testbed: two
            hosts: [{ name: h }]
            guests: [{ name: a, host: h }, { name: b, host: h }]
            """);
        var separate = CampaignFile.Parse("c.yaml", "campaign: c\nexperiments:\n  - workload: superpi\n", t);
        Assert.Equal(2, separate.Experiments.Length);
        var together = CampaignFile.Parse("c.yaml", "campaign: c\nconcurrent: true\nexperiments:\n  - workload: superpi\n", t);
        Assert.Equal(["a", "b"], Assert.Single(together.Experiments).Guests);
    }

    [Theory]
    [InlineData("2G", 2L << 30)]
    [InlineData("64M", 64L << 20)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("4096", 4096)]
    public void Sizes_parse(string text, long bytes)
    {
        Assert.True(Units.TryParseSize(text, out var b));
        Assert.Equal(bytes, b);
    }

    [Theory]
    [InlineData("2m", 120)]
    [InlineData("90s", 90)]
    [InlineData("500ms", 0.5)]
    [InlineData("1h", 3600)]
    [InlineData("7", 7)]
    public void Durations_parse(string text, double seconds)
    {
        Assert.True(Units.TryParseDuration(text, out var d));
        Assert.Equal(seconds, d.TotalSeconds, 9);
    }
}
