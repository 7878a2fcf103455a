using System.Diagnostics;
using Horizon.Config;
using Horizon.Lab;
using Horizon.Scheduler.Platforms;
using Horizon.Workloads;

namespace Horizon.EndToEnd.Tests;

/// <summary>The namespace lab for real: hosts and peer as network namespaces with their own sshd.</summary>
[Collection("machine")]
public sealed class LabTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string Rootfs = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.cache/rootfs/bookworm"));

    private static readonly string VmKernel = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.cache/vm"));

    private static LabSpec NewSpec() => new($"t{Random.Shared.Next(0x1000, 0xffff):x}", 1, true, Random.Shared.Next(100, 200), 0, Rootfs, 0, VmKernel);

    private static async Task<string> Sh(string command)
    {
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var p = Process.Start(start)!;
        var output = await p.StandardOutput.ReadToEndAsync(Ct);
        await p.WaitForExitAsync(Ct);
        return output;
    }

    private static bool Alive(int pid) => File.Exists($"/proc/{pid}/status") && !File.ReadAllText($"/proc/{pid}/status").Contains("State:\tZ");

    private static readonly string[] CpuShares = ["user", "system", "iowait", "steal", "idle"];

    [Trait("needs", "lab-image")]
    [Fact]
    public async Task A_lab_host_its_lxc_container_and_its_qemu_vm_run_workloads_over_ssh_with_probes_and_iperf_to_the_peer_then_leave_nothing_behind()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { LxcGuests = 1, QemuGuests = 1 };
        var manager = new LabManager(dir);
        LabState state;
        try
        {
            state = await manager.UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            Assert.Equal(spec.Namespace("ctl"), testbed.ProbeNetworkNamespace);
            // The VM's vCPU thread, from QMP, is a thread of its QEMU process.
            var qemu = state.Processes.Single(p => p.Role.EndsWith("qemu", StringComparison.Ordinal));
            var vcpu = Assert.Single(state.VcpuThreads["host1-qemu1"]);
            Assert.True(Directory.Exists($"/proc/{qemu.Pid}/task/{vcpu}"), $"thread {vcpu} is not in qemu pid {qemu.Pid}");
            // The 1-vCPU container is pinned through its cpuset cgroup.
            var container = state.Containers.Single();
            var cpus = await Sh($"nsenter --net=/run/netns/{container.Namespace} lxc-cgroup -P {container.LxcPath} -n {container.Name} cpuset.cpus");
            Assert.Equal(Environment.ProcessorCount > 1 ? "1" : "0", cpus.Trim());
            await using (var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress))
            {
                var (outcome, results) = await lab.RunAsync("""
                    campaign: in-the-lab
                    rounds: 3
                    round_timeout: 1m
                    experiments:
                      - workload: command
                        run: sleep 0.2; ip -o -4 addr show dev eth0
                      - workload: superpi
                        digits: 20000
                      - workload: iperf-udp
                        rate: 50M
                        duration: 1s
                      - workload: iperf-udp
                        direction: peer-to-guest
                        rate: 50M
                        duration: 1s
                    """, testbed);
                Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
                Assert.Equal(12, results.Length);
                Assert.Equal(["lxc", "native", "qemu"], results.Select(e => e.Platform).Distinct().Order());
                foreach (var command in results.Where(e => e.Workload == "command"))
                {
                    // A software-emulated VM's timer and fork are slow; the others add only milliseconds.
                    var upper = command.Platform == "qemu" ? 0.6 : 0.26;
                    Assert.All(command.Rounds.Where(r => r.Measured), r => Assert.InRange(r.Seconds!.Value, 0.2, upper));
                    Assert.Contains("ssh root@127.0.0.1", command.EnvironmentJson);
                }

                // What each round cost, from /proc/stat just outside the probes: the guest's own accounting (steal and iowait
                // columns present; TCG has no steal-time clock, so zero is expected here) and, for the container and the VM
                // on this machine's lab host, the host's.
                // /proc/stat counts in 10 ms ticks: a round shorter than a tick or two (native superpi here: ~8 ms) may see
                // none, and then carries no shares rather than made-up ones.
                foreach (var e in results.Where(e => e.Workload is "command" or "superpi"))
                {
                    Assert.All(e.Rounds.Where(r => r.Measured && r.Seconds >= 0.05), r =>
                    {
                        foreach (var k in CpuShares)
                        {
                            Assert.InRange(r.Metrics![$"guest_cpu_{k}_pct"], 0, 100);
                        }

                        Assert.Equal(e.Platform != "native", r.Metrics!.ContainsKey("host_cpu_steal_pct"));
                    });
                }

                Assert.All(results.Where(e => e.Workload == "command").SelectMany(e => e.Rounds), r => Assert.True(r.Metrics!.ContainsKey("guest_cpu_steal_pct")));
                Assert.Contains("guest_cpu_steal_pct=", Horizon.Reports.Exporters.RoundsCsv(results), StringComparison.Ordinal);
                var superpi = results.Where(e => e.Workload == "superpi").ToDictionary(e => e.Platform, e => e.Statistics!.Mean);
                // TCG emulation is an order of magnitude slower than native; the container is close to native.
                Assert.True(superpi["qemu"] > 3 * superpi["native"], $"qemu {superpi["qemu"]} vs native {superpi["native"]}");

                // The container's rows carry their ratio to the lab host's native run.
                var rows = Horizon.Reports.ResultsTable.Build(results);
                Assert.All(rows.Where(r => r.Experiment.Platform == "lxc"), r => Assert.NotNull(r.RatioToBaseline));
                foreach (var iperf in results.Where(e => e.Workload == "iperf-udp"))
                {
                    // iperf3 computes throughput on the guest's clock, which under TCG emulation is itself imprecise.
                    var (low, high) = iperf.Platform == "qemu" ? (30.0, 70.0) : (40.0, 52.0);
                    Assert.All(iperf.Rounds.Where(r => r.Measured), r => Assert.InRange(r.Metrics!["throughput_mbps"], low, high));
                }
                Assert.All(results, e => Assert.Equal(3, e.Rounds.Count(r => r.Measured)));
                Assert.Contains("in network namespace", lab.Controller!.Timing.TimestampDescription);

                // The container and the VM at once under shared-core: lxc-cgroup and the QMP vCPU thread's affinity put both
                // on the first core and read it back; exclusive needs more cores than this host has and says so.
                var (placed, schemes) = await lab.RunAsync("""
                    campaign: schemes-in-the-lab
                    rounds: 2
                    round_timeout: 1m
                    guests: [host1-lxc1, host1-qemu1]
                    concurrent: true
                    cpu_schemes: [shared-core, exclusive]
                    experiments:
                      - workload: command
                        run: sleep 0.1
                    """, testbed);
                var shared = schemes.Single(e => e.Scheme == "shared-core");
                Assert.Equal("Completed", shared.Status);
                Assert.Equal(4, shared.Rounds.Count(r => r.Measured));
                Assert.Contains("\"adapter\":\"lxc\",\"planned\":[\"0\"],\"read_back\":[\"0\"]", shared.EnvironmentJson, StringComparison.Ordinal);
                Assert.Contains("\"adapter\":\"qemu\",\"planned\":[\"0\"],\"read_back\":[\"0\"]", shared.EnvironmentJson, StringComparison.Ordinal);
                var exclusive = schemes.Single(e => e.Scheme == "exclusive");
                Assert.Equal(Environment.ProcessorCount >= 3 ? "Completed" : "Failed", exclusive.Status);
                if (Environment.ProcessorCount < 3)
                {
                    Assert.Contains("the exclusive scheme needs 3 physical cores", exclusive.Note, StringComparison.Ordinal);
                }

                Assert.False(placed.AllCompleted && Environment.ProcessorCount < 3);
            }

            // The guest really ran inside the lab host's namespace.
            var inside = await Sh($"ip netns exec {spec.Namespace("host1")} ip -o -4 addr show dev br0");
            Assert.Contains(spec.Address(10), inside);
        }
        finally
        {
            // A fresh manager, as after a crash: everything comes from the state file.
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
        }

        try
        {
            var namespaces = await Sh("ip netns list");
            Assert.DoesNotContain($"hz-{spec.Name}-", namespaces);
            Assert.All(state.Processes, p => Assert.False(Alive(p.Pid), $"{p.Role} (pid {p.Pid}) still runs"));
            Assert.False(Directory.Exists(Path.Combine(dir, spec.Name)));
            Assert.False(await new LabManager(dir).DownAsync(spec.Name, null, Ct));
        }
        finally
        {
            // The test's own directory goes too, also when a check above failed.
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Trait("needs", "lab-image")]
    [Fact]
    public async Task Two_and_four_concurrent_guests_run_iperf_in_both_directions_each_against_its_own_server()
    {
        // Study §6.2.4: several guests' network at once. One iperf3 server serves one test at a time ("the server is busy
        // running a test"): each concurrent guest gets its own server on the peer (port + guest index).
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { LxcGuests = 4 };
        var manager = new LabManager(dir);
        try
        {
            var state = await manager.UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            await using var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress);
            var (outcome, results) = await lab.RunAsync("""
                campaign: multi-vm-iperf
                rounds: 2
                round_timeout: 1m
                guests: [host1-lxc1, host1-lxc2, host1-lxc3, host1-lxc4]
                guest_counts: [2, 4]
                experiments:
                  - workload: iperf-udp
                    rate: 20M
                    duration: 1s
                    sweep: { direction: [guest-to-peer, peer-to-guest] }
                """, testbed);
            Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
            Assert.Equal(4, results.Length);
            foreach (var e in results)
            {
                Assert.Equal(0, e.FailedCount);
                Assert.Equal(2 * e.Guests.Length, e.Rounds.Count(r => r.Measured));
                // Every guest got its offered 20 Mbit/s: no guest starved by another's test on a shared server.
                Assert.All(e.Rounds, r => Assert.InRange(r.Metrics!["throughput_mbps"], 17, 21));
            }

            Assert.Equal([2, 2, 4, 4], results.Select(e => e.Guests.Length).Order());
            var scaling = Horizon.Reports.ScalingTable.Build(results);
            Assert.All(scaling, row => Assert.InRange(row.Fairness!.Value, 0.95, 1.0));
            // Together the guests moved guests × 20 Mbit/s; each guest's loss and jitter are reported beside it.
            Assert.All(scaling, row => Assert.InRange(row.Aggregate!.Value, 17.0 * row.Guests, 21.0 * row.Guests));
            Assert.All(scaling, row => Assert.Equal(row.Guests, row.Network.Length));
            Assert.All(scaling.SelectMany(row => row.Network), n => Assert.InRange(n.LossPercent, 0, 5));
        }
        finally
        {
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>
    /// KVM's tool chain for real (TCG here): the lab's own libvirtd, two type='qemu' domains reached over SSH, the three
    /// schemes applied with virsh vcpupin/emulatorpin and read back from the real virsh (exclusive with one domain: two
    /// CPUs hold one guest beside host control), rounds measured by probes.
    /// </summary>
    [Trait("needs", "lab-image")]
    [Fact]
    public async Task Two_libvirt_domains_run_under_the_three_schemes_read_back_from_virsh()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { Peer = false, LibvirtGuests = 2 };
        try
        {
            var state = await new LabManager(dir).UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            Assert.Equal(["host1-kvm1", "host1-kvm2"], testbed.Guests.Where(g => g.Platform == Platform.Kvm).Select(g => g.Name));
            await using var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress);
            var (outcome, results) = await lab.RunAsync("""
                campaign: libvirt-for-real
                rounds: 2
                round_timeout: 5m
                experiments:
                  - workload: superpi
                    digits: 5000
                    guests: [host1-kvm1, host1-kvm2]
                    concurrent: true
                    cpu_schemes: [default, shared-core]
                  - workload: superpi
                    digits: 5000
                    guests: [host1-kvm1]
                    cpu_schemes: [exclusive]
                """, testbed, TimeSpan.FromMinutes(15));
            Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
            Assert.Equal(3, results.Length);
            foreach (var e in results)
            {
                Assert.Equal(2 * e.Guests.Length, e.Rounds.Count(r => r.Measured && r.Seconds > 0));
                Assert.Equal("kvm", e.Platform);
            }

            var cpus = int.Parse((await Sh("nproc --all")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var all = cpus > 1 ? $"0-{cpus - 1}" : "0";
            string[] ReadBack(Horizon.Results.ExperimentResult e)
            {
                using var env = System.Text.Json.JsonDocument.Parse(e.EnvironmentJson);
                return [.. env.RootElement.GetProperty("guests").EnumerateArray().Select(g => g.GetProperty("placement").GetProperty("read_back")[0].GetString()!)];
            }

            Assert.All(ReadBack(results.Single(e => e.Scheme == "default")), r => Assert.True(CpuList.Same(r, all), $"default read back {r}"));
            var shared = ReadBack(results.Single(e => e.Scheme == "shared-core"));
            Assert.Single(shared.Distinct());
            Assert.Single(CpuList.Parse(shared[0]));
            var exclusive = results.Single(e => e.Scheme == "exclusive");
            Assert.Equal(["1"], ReadBack(exclusive));
            // The emulator threads (host control) pinned to the other core, read back from `virsh emulatorpin`.
            Assert.Contains("\"cpus\":\"0\"", exclusive.EnvironmentJson, StringComparison.Ordinal);
        }
        finally
        {
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
            Assert.Equal("", (await Sh($"ps -eo args | grep -F '{dir}' | grep -v grep || true")).Trim());
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Trait("needs", "lab-image")]
    [Fact]
    public async Task Docker_and_podman_guests_run_superpi_and_masr_over_exec_under_default_and_shared_core_read_back_from_the_kernel_and_lxc_over_lxc_attach()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { Peer = false, DockerGuests = 2, PodmanGuests = 2, LxcGuests = 1 };
        var manager = new LabManager(dir);
        int? dockerd = null;
        try
        {
            var state = await manager.UpAsync(spec, null, Ct);
            dockerd = state.Processes.Single(p => p.Role.EndsWith("dockerd", StringComparison.Ordinal)).Pid;
            // The LXC guest too through the exec transport (lxc-attach), not its sshd. LXC's command socket is an abstract
            // socket, which lives in a network namespace: lxc-attach runs in the host's, where the lab started the container.
            var lxcExec = new TransportSpec(TransportKind.Exec)
            {
                Exec = ["nsenter", $"--net=/run/netns/{spec.Namespace("host1")}", "lxc-attach", "-P", Path.Combine(dir, spec.Name, "lxc"), "-n", "{instance}", "--"],
            };
            var loaded = TestbedFile.Load(state.TestbedFile!);
            var testbed = loaded with { Guests = [.. loaded.Guests.Select(g => g.Platform == Platform.Lxc ? g with { Transport = lxcExec } : g)] };
            Assert.All(testbed.Guests.Where(g => g.Platform is Platform.Docker or Platform.Podman), g => Assert.Equal(TransportKind.Exec, g.Transport.Kind));
            await using var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress);
            var (outcome, results) = await lab.RunAsync("""
                campaign: engines
                rounds: 2
                round_timeout: 2m
                cpu_schemes: [default, shared-core]
                experiments:
                  - workload: superpi
                    digits: 20000
                    guests: [host1-docker1, host1-docker2]
                    guest_counts: [1, 2]
                  - workload: masr
                    size: 16M
                    guests: [host1-docker1, host1-docker2]
                    guest_counts: [1, 2]
                  - workload: superpi
                    digits: 20000
                    guests: [host1-podman1, host1-podman2]
                    guest_counts: [1, 2]
                  - workload: masr
                    size: 16M
                    guests: [host1-podman1, host1-podman2]
                    guest_counts: [1, 2]
                  - workload: superpi
                    digits: 20000
                    guests: [host1-lxc1]
                    cpu_schemes: [default]
                """, testbed);
            Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
            Assert.Equal(17, results.Length);
            var overAttach = Assert.Single(results, e => e.Platform == "lxc");
            Assert.Equal(2, overAttach.Rounds.Count(r => r.Measured));
            Assert.Contains($"lxc-attach -P {Path.Combine(dir, spec.Name, "lxc")} -n host1-lxc1 --)", overAttach.EnvironmentJson, StringComparison.Ordinal);
            results = [.. results.Where(e => e.Platform != "lxc")];
            var all = (await Sh("nproc --all")).Trim() is var n && int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) > 1 ? $"0-{int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) - 1}" : "0";
            foreach (var e in results)
            {
                Assert.Equal(0, e.FailedCount);
                Assert.Equal(2 * e.Guests.Length, e.Rounds.Count(r => r.Measured));
                using var env = System.Text.Json.JsonDocument.Parse(e.EnvironmentJson);
                var guests = env.RootElement.GetProperty("guests").EnumerateArray().ToList();
                // Reached with the engine's exec, no sshd; the placement read back (from the kernel: /proc/1/status in the container).
                Assert.All(guests, g => Assert.Matches($"^exec \\((env CONTAINERS_CONF=\\S+ )?/usr/bin/{e.Platforms[0]} .* exec -i {g.GetProperty("name").GetString()}\\)$", g.GetProperty("transport").GetString()));
                var readBack = guests.Select(g => g.GetProperty("placement").GetProperty("read_back")[0].GetString()!).ToList();
                if (e.Scheme == "default")
                {
                    Assert.All(readBack, r => Assert.True(CpuList.Same(r, all), $"{e.Key}: default read back {r}, the host has {all}"));
                }
                else
                {
                    Assert.Single(readBack.Distinct());
                    Assert.Single(CpuList.Parse(readBack[0]));
                }
            }
        }
        finally
        {
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
            Assert.Equal("", (await Sh($"awk '{{print $2}}' /proc/mounts | grep -F '{dir}/' || true")).Trim());
            Assert.True(dockerd is null || !Alive(dockerd.Value), "the lab's dockerd outlived `lab down`");
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Trait("needs", "lab-image")]
    [Fact]
    public async Task Forward_runs_through_native_lxc_and_qemu_guests_with_the_zero_loss_search_and_restores_their_tables()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { LxcGuests = 1, QemuGuests = 1, Forward = true };
        try
        {
            var state = await new LabManager(dir).UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            Assert.All(testbed.Guests, g => Assert.NotNull(g.Forward));
            var before = await Sh($"ip netns exec {spec.Namespace("host1")} cat /proc/sys/net/ipv4/ip_forward");
            await using (var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress))
            {
                var (outcome, results) = await lab.RunAsync("""
                    campaign: forwarding
                    rounds: 2
                    round_timeout: 2m
                    experiments:
                      - workload: forward
                        frame: 64
                        trial: 300ms
                        drain: 200ms
                        precision: 10
                        max_trials: 7
                        sweep: { routes: [1, 5000] }
                    """, testbed);
                Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
                Assert.Equal(6, results.Length);
                Assert.Equal(["lxc", "native", "qemu"], results.Select(e => e.Platform).Distinct().Order());
                foreach (var e in results)
                {
                    Assert.Equal(2, e.Rounds.Count(r => r.Measured));
                    foreach (var m in e.Rounds.Select(r => r.Metrics!))
                    {
                        // The guest forwarded frames with no loss at the reported rate, below what the generator reaches alone.
                        Assert.True(m["throughput_pps"] > 0, $"{e.Key}: nothing forwarded");
                        Assert.Equal(0, m["loss_percent"]);
                        Assert.True(m["ceiling_pps"] > 0);
                        Assert.True(m["throughput_pps"] <= 1.5 * m["ceiling_pps"], $"{e.Key}: {m["throughput_pps"]} above the generator's ceiling {m["ceiling_pps"]}");
                        Assert.True(m.ContainsKey("trial01.offered_pps") && m.ContainsKey($"trial{(int)m["search_trials"]:00}.offered_pps"));
                    }
                }

                // Software-emulated QEMU forwards far less than the host's own stack.
                double Mean(string platform) => results.Where(e => e.Platform == platform).Average(e => e.Statistics!.Mean);
                Assert.True(Mean("qemu") < 0.7 * Mean("native"), $"qemu {Mean("qemu")} vs native {Mean("native")}");

                // The forwarding table puts each result next to the generator's ceiling; the report draws RFC 2544's figure.
                var table = Horizon.Reports.ForwardingTable.Build(results);
                Assert.Equal(6, table.Length);
                Assert.All(table, r => Assert.True(r.CeilingPps > 0 && r.PercentOfCeiling > 0));
                var html = await File.ReadAllTextAsync(Horizon.Figures.HtmlReport.Write("forwarding", results, lab.Controller!.Store.RunOrder("forwarding"), Path.Combine(dir, "report")), Ct);
                Assert.Contains("Forwarding (RFC 2544 zero-loss throughput)", html, StringComparison.Ordinal);
                Assert.Equal(2, Directory.GetFiles(Path.Combine(dir, "report", "figures"), "forward-*.svg").Length);
            }

            // The workload's routes are gone and forwarding is as it was, in the lab host and inside the container.
            Assert.Equal("", (await Sh($"ip -n {spec.Namespace("host1")} route show proto {ForwardWorkload.RouteProtocol}")).Trim());
            Assert.Equal(before, await Sh($"ip netns exec {spec.Namespace("host1")} cat /proc/sys/net/ipv4/ip_forward"));
            var container = state.Containers.Single();
            var pid = (await Sh($"nsenter --net=/run/netns/{container.Namespace} lxc-info -P {container.LxcPath} -n {container.Name} -p -H")).Trim();
            Assert.Equal("", (await Sh($"nsenter --net=/proc/{pid}/ns/net ip route show proto {ForwardWorkload.RouteProtocol}")).Trim());
        }
        finally
        {
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        Assert.DoesNotContain($"hz-{spec.Name}-", await Sh("ip netns list"));
    }

    private static readonly string XenImage = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.cache/xen"));

    /// <summary>
    /// Xen for real, in the reduced form CI can afford on 2 cores (the nested host is emulated twice over): Xen 4.17 under
    /// QEMU/TCG, two PV domUs created by the lab one at a time, a CPU and a memory workload under default and shared-core,
    /// 2 rounds each, both domUs concurrent, and one domU under exclusive (dom0 on one core, the domU on the other). The
    /// schemes must be read back from the real `xl vcpu-list`.
    /// </summary>
    [Trait("needs", "lab-image")]
    [Fact]
    public async Task A_nested_xen_host_runs_two_pv_domus_under_default_and_shared_core_read_back_from_xl()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { Peer = false, XenGuests = 2, XenImage = XenImage };
        LabState? state = null;
        try
        {
            state = await new LabManager(dir).UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            Assert.Equal(Platform.Xen, testbed.Hosts.Single(h => h.Name == LabManager.XenHostName).Platform);
            Assert.Equal(["xen1-domu1", "xen1-domu2"], testbed.Guests.Where(g => g.Platform == Platform.Xen).Select(g => g.Name));
            await using (var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress))
            {
                var (outcome, results) = await lab.RunAsync("""
                    campaign: xen-for-real
                    rounds: 2
                    round_timeout: 5m
                    guests: [xen1-domu1, xen1-domu2]
                    concurrent: true
                    cpu_schemes: [default, shared-core]
                    experiments:
                      - workload: superpi
                        digits: 5000
                      - workload: masr
                        size: 16M
                      # Exclusive on a 2-pCPU host: dom0 keeps one core (reduced to one vCPU), one domU gets the other.
                      - workload: superpi
                        digits: 5000
                        guests: [xen1-domu1]
                        concurrent: false
                        cpu_schemes: [exclusive]
                    """, testbed, TimeSpan.FromMinutes(25));
                Assert.True(outcome.AllCompleted, string.Join("; ", outcome.Experiments.Select(x => x.Note)));
                Assert.Equal(5, results.Length);
                foreach (var e in results)
                {
                    // Every domU of the experiment measured by probes in both rounds.
                    Assert.Equal(2 * e.Guests.Length, e.Rounds.Count(r => r.Measured && r.Seconds > 0));
                    Assert.Equal("xen", e.Platform);
                }

                // Exclusive, read back from the real xl: the domU alone on CPU 1, dom0 on CPU 0 with one vCPU.
                var exclusive = Assert.Single(results, e => e.Scheme == "exclusive");
                Assert.Contains("\"adapter\":\"xen\",\"planned\":[\"1\"],\"read_back\":[\"1\"]", exclusive.EnvironmentJson, StringComparison.Ordinal);
                Assert.Contains("\"cpus\":\"0\",\"vcpus\":1", exclusive.EnvironmentJson, StringComparison.Ordinal);

                foreach (var free in results.Where(e => e.Scheme == "default"))
                {
                    // The hypervisor's view of the host (xl info: 2 pCPUs), not dom0's, read back from xl vcpu-list.
                    Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(free.EnvironmentJson, "\"adapter\":\"xen\",\"planned\":\\[\"0-1\"\\],\"read_back\":\\[\"0-1\"\\]"));
                }

                foreach (var shared in results.Where(e => e.Scheme == "shared-core"))
                {
                    // Read back from xl vcpu-list: both domUs and dom0 (one vCPU left online) on CPU 0.
                    Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(shared.EnvironmentJson, "\"adapter\":\"xen\",\"planned\":\\[\"0\"\\],\"read_back\":\\[\"0\"\\]"));
                    Assert.Contains("\"cpus\":\"0\",\"vcpus\":1", shared.EnvironmentJson, StringComparison.Ordinal);
                }
            }
        }
        finally
        {
            await new LabManager(dir).DownAsync(spec.Name, null, CancellationToken.None);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        Assert.DoesNotContain($"hz-{spec.Name}-", await Sh("ip netns list"));
        Assert.All(state!.Processes, p => Assert.False(Alive(p.Pid), $"{p.Role} (pid {p.Pid}) still runs"));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(20)]
    public async Task Redundant_copies_keep_rounds_measured_under_injected_probe_loss(int lossPercent)
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-lab-" + Guid.NewGuid().ToString("N")[..8]);
        var spec = NewSpec() with { Peer = false };
        var manager = new LabManager(dir);
        try
        {
            var state = await manager.UpAsync(spec, null, Ct);
            var testbed = TestbedFile.Load(state.TestbedFile!);
            await using var lab = await Lab.StartAsync(testbed.ProbeNetworkNamespace, testbed.ProbeAddress);
            var port = lab.Controller!.Timing.LocalEndPoint.Port;
            // nftables random drop inside the lab's controller namespace (tc netem is not in this kernel).
            var ns = spec.Namespace("ctl");
            await Sh($"ip netns exec {ns} nft add table inet fault && ip netns exec {ns} nft add chain inet fault in '{{ type filter hook input priority 0; }}' && ip netns exec {ns} nft add rule inet fault in udp dport {port} numgen random mod 100 '<' {lossPercent} drop");
            Assert.Contains("numgen random", await Sh($"ip netns exec {ns} nft list ruleset"));
            var (_, results) = await lab.RunAsync("""
                campaign: lossy
                rounds: 200
                round_timeout: 30s
                probe_copies: 4
                interleave: { block: 200 }
                experiments:
                  - workload: command
                    run: sleep 0.001
                """, testbed);
            var e = Assert.Single(results);
            var counters = lab.Controller.Timing.Counters;
            var sent = 200 * 2 * 4;
            var delivered = counters.Accepted + counters.Duplicates;
            // The loss was real: about a fifth of the datagrams never arrived.
            Assert.InRange(1 - (delivered / (double)sent), (lossPercent - 8) / 100.0, (lossPercent + 8) / 100.0);
            // A fixed count of rounds is met: a round that lost its probes is recorded as failed and another is run.
            Assert.Equal(200, e.Rounds.Count(r => r.Measured));
            // A round fails only when all 4 copies of its start or of its end probe are lost: with the measured loss q that
            // is expected 2·q⁴ of the rounds (0.6 of 200 at 20 %). Without redundant copies it would be 2·q (80 of 200).
            var q = 1 - (delivered / (double)sent);
            var expectedFailed = e.Rounds.Length * 2 * Math.Pow(q, 4);
            var failed = e.Rounds.Count(r => !r.Measured);
            Assert.True(failed <= expectedFailed + (4 * Math.Sqrt(expectedFailed)) + 3, $"{failed} of {e.Rounds.Length} rounds failed, {expectedFailed:F1} expected at {q:P1} loss");
            Assert.All(e.Rounds.Where(r => !r.Measured), r => Assert.Contains("lost", r.Reason));
        }
        finally
        {
            await manager.DownAsync(spec.Name, null, CancellationToken.None);
            Directory.Delete(dir, recursive: true);
        }
    }
}
