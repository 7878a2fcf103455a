using Horizon.Config;
using Horizon.Scheduler;
using Horizon.Scheduler.Platforms;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The platform adapters against fake platform tools on the host's PATH (tests/…/FakeTools): each fake checks its
/// arguments, keeps the setting, and prints it back in the real tool's documented format. Not run on real Xen, KVM,
/// ESXi, OpenVZ, Docker or Podman hosts.
/// </summary>
[Collection("machine")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AdapterTests : IDisposable
{
    // Two sockets of two cores (lscpu -p format, as on a real 2-socket host).
    private const string Lscpu = """
        # The following is the parsable format, which can be fed to other
        # programs. Each different item in every column has an unique ID
        # starting usually from zero.
        # CPU,Core,Socket,Node
        0,0,0,0
        1,1,0,0
        2,2,1,0
        3,3,1,0
        """;

    private readonly string dir = Directory.CreateTempSubdirectory("horizon-fakes-").FullName;
    private readonly string state;
    private readonly string? oldPath = Environment.GetEnvironmentVariable("PATH");

    public AdapterTests()
    {
        var bin = Path.Combine(dir, "bin");
        Directory.CreateDirectory(bin);
        foreach (var f in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "FakeTools")))
        {
            var to = Path.Combine(bin, Path.GetFileName(f));
            File.Copy(f, to);
            File.SetUnixFileMode(to, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        // An lscpu that describes the 4-CPU host above, so topology discovery runs through the same command.
        File.WriteAllText(Path.Combine(bin, "lscpu"), $"#!/bin/bash\ncat <<'X'\n{Lscpu}\nX\n");
        File.SetUnixFileMode(Path.Combine(bin, "lscpu"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        state = Path.Combine(dir, "state");
        Directory.CreateDirectory(state);
        File.WriteAllText(Path.Combine(state, "xen-domains"), "Domain-0 0 4\ndomu1 1 1\ndomu2 2 2\n");
        File.WriteAllText(Path.Combine(state, "kvm-domains"), "vm1\nvm2\n");
        File.WriteAllText(Path.Combine(state, "kvm-vm2-vcpus"), "2");
        Environment.SetEnvironmentVariable("PATH", $"{bin}:{oldPath}");
        Environment.SetEnvironmentVariable("FAKE_STATE", state);
        Environment.SetEnvironmentVariable("FAKE_PCPUS", "4");
        Environment.SetEnvironmentVariable("VZ_CONF_DIR", Path.Combine(state, "etc/vz/conf"));
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("PATH", oldPath);
        foreach (var v in new[] { "FAKE_STATE", "FAKE_PCPUS", "VZ_CONF_DIR", "FAKE_IGNORE_UPDATE" })
        {
            Environment.SetEnvironmentVariable(v, null);
        }

        Directory.Delete(dir, recursive: true);
    }

    private string[] Calls() => File.Exists(Path.Combine(state, "calls.log")) ? File.ReadAllLines(Path.Combine(state, "calls.log")) : [];

    private static GuestSpec Guest(string name, Platform p, int vcpus = 1) =>
        new(name, "h", p, vcpus, TransportSpec.Local, "/var/tmp/x", [], 1);

    private static async Task<HostContext> Host(int controlCpus = 1)
    {
        var transport = new LocalTransport();
        var topology = await HostTopology.DiscoverAsync(transport, TestContext.Current.CancellationToken);
        return new HostContext(new TestHost("h", Platform.Native, TransportSpec.Local, 1) { ControlCpus = controlCpus }, transport, topology);
    }

    [Fact]
    public async Task Topology_comes_from_lscpu_and_exclusive_takes_whole_cores_socket_by_socket()
    {
        var host = await Host();
        Assert.Equal(4, host.Topology.Cpus.Count);
        Assert.Equal(2, host.Topology.Sockets);
        var plan = CpuPlanner.Plan(CpuScheme.Exclusive, [Guest("a", Platform.Xen), Guest("b", Platform.Xen, 2)], host.Topology, 1, "h");
        Assert.Equal("0", plan.HostControl);
        Assert.Equal(["1"], plan.GuestVcpus[0]);
        Assert.Equal(["2", "3"], plan.GuestVcpus[1]);

        var tooMany = Assert.Throws<TestbedException>(() =>
            CpuPlanner.Plan(CpuScheme.Exclusive, [Guest("a", Platform.Xen, 2), Guest("b", Platform.Xen, 2)], host.Topology, 1, "h"));
        Assert.Contains("needs 5 physical cores", tooMany.Message, StringComparison.Ordinal);
        Assert.Contains("4 logical CPU(s), 4 core(s), 2 socket(s)", tooMany.Message, StringComparison.Ordinal);

        // SMT siblings (CPU 0 and 2 share core 0) are never handed out as two cores.
        var smt = HostTopology.Parse("0,0,0,0\n1,1,0,0\n2,0,0,0\n3,1,0,0\n");
        Assert.Equal(2, smt.PhysicalCores);
        Assert.Throws<TestbedException>(() => CpuPlanner.Plan(CpuScheme.Exclusive, [Guest("a", Platform.Kvm), Guest("b", Platform.Kvm)], smt, 1, "h"));
    }

    [Fact]
    public async Task Xen_reads_the_host_from_xl_info_and_sets_credit_weights_and_caps_and_reads_them_back()
    {
        var ct = TestContext.Current.CancellationToken;
        var xen = PlatformAdapter.For(Platform.Xen)!;
        File.WriteAllText(Path.Combine(state, "xen-cores-per-socket"), "2");
        var topology = await xen.DiscoverTopologyAsync(new LocalTransport(), ct);
        Assert.Equal("4 logical CPU(s), 4 core(s), 2 socket(s)", topology!.Describe());

        var host = await Host();
        var domu = Guest("domu2", Platform.Xen, 2);
        Assert.Equal(new CpuShare(512, 40), await xen.ApplyShareAsync(host, domu, new CpuShare(512, 40), ct));
        Assert.Contains("xl sched-credit -d domu2 -w 512 -c 40", Calls());
        // No share asked: the defaults are put back (an earlier experiment may have changed them).
        Assert.Equal(CpuShare.Default, await xen.ApplyShareAsync(host, domu, null, ct));
        var missing = await Assert.ThrowsAsync<TestbedException>(() => xen.ApplyShareAsync(host, Guest("gone", Platform.Xen), null, ct));
        Assert.Contains("gone is an invalid domain identifier", missing.Message, StringComparison.Ordinal);
        // Other platforms refuse a share rather than ignore it.
        await Assert.ThrowsAsync<TestbedException>(() => PlatformAdapter.For(Platform.Kvm)!.ApplyShareAsync(host, Guest("vm1", Platform.Kvm), new CpuShare(512, 0), ct));
    }

    [Fact]
    public async Task Xen_pins_each_vcpu_and_reduces_dom0_as_the_study_did_and_reads_both_back()
    {
        var host = await Host();
        var xen = PlatformAdapter.For(Platform.Xen)!;
        var ct = TestContext.Current.CancellationToken;
        var guests = new[] { Guest("domu1", Platform.Xen), Guest("domu2", Platform.Xen, 2) };

        var exclusive = CpuPlanner.Plan(CpuScheme.Exclusive, guests, host.Topology, 1, "h");
        for (var i = 0; i < guests.Length; i++)
        {
            await xen.ApplyAsync(host, guests[i], exclusive.GuestVcpus[i], ct);
        }

        await xen.ApplyHostControlAsync(host, guests[0], exclusive, ct);
        Assert.Equal(["1"], await xen.ReadBackAsync(host, guests[0], ct));
        Assert.Equal(["2", "3"], await xen.ReadBackAsync(host, guests[1], ct));
        Assert.Equal("0", await xen.ReadHostControlAsync(host, guests[0], ct));
        Assert.Contains("xl vcpu-pin domu2 1 3", Calls());
        Assert.Contains("xl vcpu-set Domain-0 1", Calls());
        Assert.Contains("xl vcpu-pin Domain-0 0 0", Calls());

        // default: every dom0 vCPU back and nothing pinned ("all" read back as every CPU).
        var dflt = CpuPlanner.Plan(CpuScheme.Default, guests, host.Topology, 1, "h");
        await xen.ApplyAsync(host, guests[1], null, ct);
        await xen.ApplyHostControlAsync(host, guests[1], dflt, ct);
        Assert.Equal(["0-3", "0-3"], await xen.ReadBackAsync(host, guests[1], ct));
        Assert.Equal("0-3", await xen.ReadHostControlAsync(host, guests[1], ct));
        Assert.Contains("xl vcpu-set Domain-0 4", Calls());
        Assert.Contains("xl vcpu-pin domu2 all all", Calls());
    }

    [Fact]
    public async Task Xen_errors_become_messages_that_quote_xl()
    {
        var host = await Host();
        var xen = PlatformAdapter.For(Platform.Xen)!;
        var ct = TestContext.Current.CancellationToken;
        var missing = await Assert.ThrowsAsync<TestbedException>(() => xen.ApplyAsync(host, Guest("nosuchdom", Platform.Xen), ["1"], ct));
        Assert.Contains("nosuchdom is an invalid domain identifier (rc=-6)", missing.Message, StringComparison.Ordinal);
        Assert.Contains("xl vcpu-pin 'nosuchdom' 0 1", missing.Message, StringComparison.Ordinal);
        var badCpu = await Assert.ThrowsAsync<TestbedException>(() => xen.ApplyAsync(host, Guest("domu1", Platform.Xen), ["7"], ct));
        Assert.Contains("Setting vcpu affinity: Invalid argument", badCpu.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Xen_vcpu_list_parsing_follows_the_real_output_including_offline_vcpus()
    {
        // Verbatim shape of `xl vcpu-list` from Xen 4.17 (see ../shared/reference): an offline vCPU shows "-" and "--p".
        var rows = XenAdapter.ParseVcpuList("""
            Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)
            Domain-0                             0     0    1   -b-     114.8  all / all
            domu4                                2     0    1   -b-      11.5  all / 1
            domu4                                2     1    -   --p       6.4  0-1 / 1
            """);
        Assert.Equal(3, rows.Count);
        Assert.True(rows[1].Online);
        Assert.False(rows[2].Online);
        Assert.Equal("0-1", rows[2].Hard);
        Assert.Equal("1", rows[2].Soft);
        Assert.Throws<FormatException>(() => XenAdapter.ParseVcpuList("garbage line\n"));
    }

    [Fact]
    public void Qmp_replies_give_vcpu_threads_in_vcpu_order_and_errors_are_reported()
    {
        // The three replies of one QMP conversation: greeting, qmp_capabilities, query-cpus-fast (vCPUs listed out of order).
        const string conversation = """
            {"QMP": {"version": {"qemu": {"micro": 19, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}}
            {"return": {}}
            {"return": [{"thread-id": 4102, "props": {"core-id": 0, "thread-id": 0, "node-id": 0, "socket-id": 1}, "qom-path": "/machine/unattached/device[1]", "cpu-index": 1, "target": "x86_64"}, {"thread-id": 4101, "props": {"core-id": 0, "thread-id": 0, "node-id": 0, "socket-id": 0}, "qom-path": "/machine/unattached/device[0]", "cpu-index": 0, "target": "x86_64"}]}
            """;
        Assert.Equal([4101, 4102], QemuAdapter.ParseThreads(conversation));
        var error = Assert.Throws<TestbedException>(() => QemuAdapter.ParseThreads("""
            {"QMP": {"version": {}, "capabilities": []}}
            {"error": {"class": "CommandNotFound", "desc": "The command query-cpus-fast has not been found"}}
            """));
        Assert.Contains("has not been found", error.Message, StringComparison.Ordinal);
        Assert.Throws<TestbedException>(() => QemuAdapter.ParseThreads("{\"QMP\": {}}\n"));
    }

    [Fact]
    public async Task Kvm_pins_vcpus_and_the_emulator_and_reads_vcpuinfo_back()
    {
        var host = await Host();
        var kvm = PlatformAdapter.For(Platform.Kvm)!;
        var ct = TestContext.Current.CancellationToken;
        var g = Guest("vm2", Platform.Kvm, 2);
        var plan = CpuPlanner.Plan(CpuScheme.SharedCore, [g], host.Topology, 1, "h");
        await kvm.ApplyAsync(host, g, plan.GuestVcpus[0], ct);
        await kvm.ApplyHostControlAsync(host, g, plan, ct);
        Assert.Equal(["0", "0"], await kvm.ReadBackAsync(host, g, ct));
        Assert.Equal("0", await kvm.ReadHostControlAsync(host, g, ct));
        Assert.Contains("virsh vcpupin vm2 1 0 --live", Calls());
        Assert.Contains("virsh emulatorpin vm2 0 --live", Calls());
        Assert.Equal(["0,2", "1-3"], KvmAdapter.ParseVcpuInfo("VCPU:           0\nCPU:            2\nState:          running\nCPU time:       10.5s\nCPU Affinity:   y-y-\n\nVCPU:           1\nCPU:            1\nState:          running\nCPU time:       3.2s\nCPU Affinity:   -yyy\n"));
    }

    [Theory]
    [InlineData(Platform.VmwareEsxi, "govc vm.change -vm g1 -e sched.cpu.affinity=2")]
    [InlineData(Platform.OpenVz, "vzctl set g1 --cpus 1 --cpumask 2 --save")]
    [InlineData(Platform.Docker, "docker update --cpuset-cpus 2 g1")]
    [InlineData(Platform.Podman, "podman update --cpuset-cpus 2 g1")]
    [InlineData(Platform.Lxc, "lxc-cgroup -n g1 cpuset.cpus 2")]
    public async Task Whole_guest_platforms_apply_the_plan_and_read_it_back(Platform platform, string expectedCall)
    {
        var host = await Host(controlCpus: 2);
        var adapter = PlatformAdapter.For(platform)!;
        var ct = TestContext.Current.CancellationToken;
        var g = Guest("g1", platform);
        var plan = CpuPlanner.Plan(CpuScheme.Exclusive, [g], host.Topology, 2, "h");
        await adapter.ApplyAsync(host, g, plan.GuestVcpus[0], ct);
        Assert.Contains(expectedCall, Calls());
        Assert.Equal(["2"], await adapter.ReadBackAsync(host, g, ct));

        // Back to default: every CPU again.
        await adapter.ApplyAsync(host, g, null, ct);
        Assert.True(CpuList.Same("0-3", (await adapter.ReadBackAsync(host, g, ct))[0]));
    }

    [Fact]
    public async Task A_platform_that_accepts_a_pin_but_does_not_apply_it_stops_the_experiment_before_any_round()
    {
        await using var lab = await Lab.StartAsync();
        var testbed = TestbedFile.Parse("adapters.yaml", """
            testbed: fake-docker
            hosts:
              - name: dockerhost
                platform: docker
            guests:
              - { name: c1, host: dockerhost, workdir: /var/tmp/horizon-tests-c1 }
            """);
        const string campaign = """
            campaign: placement
            rounds: 2
            round_timeout: 30s
            cpu_schemes: [shared-core]
            experiments:
              - workload: command
                run: sleep 0.05
            """;

        Environment.SetEnvironmentVariable("FAKE_IGNORE_UPDATE", "1");
        var (outcome, results) = await lab.RunAsync(campaign, testbed);
        var e = Assert.Single(results);
        Assert.Equal("Failed", e.Status);
        Assert.Contains("refusing to start", e.Note, StringComparison.Ordinal);
        Assert.Contains("platform reports [0-3]", e.Note, StringComparison.Ordinal);
        Assert.Empty(e.Rounds.Where(r => r.Measured));
        Assert.False(outcome.AllCompleted);

        // The same campaign on an engine that applies the pin runs; the placement is stored with the experiment.
        Environment.SetEnvironmentVariable("FAKE_IGNORE_UPDATE", null);
        var (ok, okResults) = await lab.RunAsync(campaign.Replace("placement", "placement-ok", StringComparison.Ordinal), testbed);
        Assert.True(ok.AllCompleted);
        var done = Assert.Single(okResults);
        Assert.Equal(2, done.Rounds.Count(r => r.Measured));
        Assert.Contains("\"read_back\":[\"0\"]", done.EnvironmentJson, StringComparison.Ordinal);
    }
}
