using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Horizon.Config;
using Horizon.Scheduler;
using Horizon.Scheduler.Platforms;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The ESXi adapter against the vSphere API for real: govc and vcsim (the API simulator govmomi tests itself with),
/// built from Debian's source by scripts/build-govc.sh. What this proves: the API calls, their read-back and the
/// host topology from the API; not what ESXi's own scheduler does with the affinity (vcsim runs no VM).
/// </summary>
[Collection("machine")]
[Trait("needs", "toolchain")]
public sealed class VcsimTests : IAsyncDisposable
{
    private static readonly string Bin = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.cache/govc/bin"));
    private const string Secret = "pa55-not-in-any-result";

    private readonly string dir = Directory.CreateTempSubdirectory("horizon-vcsim-").FullName;
    private readonly string? oldPath = Environment.GetEnvironmentVariable("PATH");
    private Process? vcsim;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<int> StartVcsimAsync()
    {
        Assert.True(File.Exists(Path.Combine(Bin, "vcsim")), $"no vcsim at {Bin}: run scripts/build-govc.sh");
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((IPEndPoint)l.LocalEndpoint).Port;
        }

        vcsim = Process.Start(new ProcessStartInfo(Path.Combine(Bin, "vcsim"), ["-l", $"127.0.0.1:{port}", "-username", "user", "-password", Secret]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        Environment.SetEnvironmentVariable("PATH", $"{Bin}:{oldPath}");
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port, Ct);
                return port;
            }
            catch (SocketException)
            {
                await Task.Delay(100, Ct);
            }
        }

        throw new TimeoutException("vcsim did not listen within 10 s");
    }

    [Theory]
    [InlineData("env")]
    [InlineData("file")]
    public async Task The_esxi_adapter_applies_and_reads_back_all_three_schemes_through_the_vsphere_api(string secretBy)
    {
        var port = await StartVcsimAsync();
        var passwordFile = Path.Combine(dir, "vsphere-password");
        await File.WriteAllTextAsync(passwordFile, Secret, Ct);
        Environment.SetEnvironmentVariable("HZ_TEST_VSPHERE_PASSWORD", Secret);
        var testbed = TestbedFile.Parse("vcsim.yaml", $$"""
            testbed: vcsim
            hosts:
              - name: esx1
                platform: vmware-esxi
                vsphere:
                  url: https://127.0.0.1:{{port}}/sdk
                  user: user
                  {{(secretBy == "env" ? "password_env: HZ_TEST_VSPHERE_PASSWORD" : $"password_file: {passwordFile}")}}
                  insecure: true
                  host: DC0_H0
            guests:
              - { name: vm0, host: esx1, instance: DC0_H0_VM0 }
              - { name: vm1, host: esx1, instance: DC0_H0_VM1 }
            """);
        var host = testbed.Hosts[0];
        var adapter = PlatformAdapter.For(Platform.VmwareEsxi)!;
        await using var transport = new LocalTransport();
        // ESXi has no lscpu: the topology comes from the API (vcsim's canned host: 2 packages × 1 core, 2 threads).
        var topology = (await adapter.DiscoverTopologyAsync(host, testbed.Guests[0], transport, Ct))!;
        Assert.Equal("2 logical CPU(s), 2 core(s), 2 socket(s)", topology.Describe());
        var context = new HostContext(host, transport, topology);
        foreach (var (scheme, guests) in new[] { (CpuScheme.Default, 2), (CpuScheme.SharedCore, 2), (CpuScheme.Exclusive, 1) })
        {
            var members = testbed.Guests.Take(guests).ToList();
            var plan = CpuPlanner.Plan(scheme, members, topology, host.ControlCpus, host.Name);
            for (var j = 0; j < members.Count; j++)
            {
                await adapter.ApplyAsync(context, members[j], plan.GuestVcpus[j], Ct);
                var readBack = await adapter.ReadBackAsync(context, members[j], Ct);
                var expected = plan.GuestVcpus[j] ?? [topology.All];
                Assert.True(CpuList.Same(readBack.Single(), expected.Single()), $"{scheme} {members[j].Name}: planned {expected.Single()}, vSphere says {readBack.Single()}");
            }

            if (scheme == CpuScheme.SharedCore)
            {
                Assert.Single((await Task.WhenAll(members.Select(m => adapter.ReadBackAsync(context, m, Ct)))).Select(r => r.Single()).Distinct());
            }

            if (scheme == CpuScheme.Exclusive)
            {
                // One core kept for the host, the VM alone on the other.
                Assert.Equal("1", (await adapter.ReadBackAsync(context, members[0], Ct)).Single());
            }
        }

        // An unknown VM is an error naming it; neither it nor any command line carries the password.
        var unknown = await Assert.ThrowsAsync<TestbedException>(() => adapter.ReadBackAsync(context, new GuestSpec("x", "esx1", Platform.VmwareEsxi, 1, TransportSpec.Local, "/tmp", [], 1) { Instance = "nosuch" }, Ct));
        Assert.Contains("nosuch", unknown.Message, StringComparison.Ordinal);
        var failed = await Assert.ThrowsAsync<TestbedException>(() => adapter.ApplyAsync(context, new GuestSpec("x", "esx1", Platform.VmwareEsxi, 1, TransportSpec.Local, "/tmp", [], 1) { Instance = "nosuch" }, null, Ct));
        Assert.Contains("vm 'nosuch' not found", failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, failed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, EsxiAdapter.Govc(host), StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, TestbedWriter.Write(testbed, "round trip"), StringComparison.Ordinal);

        // vcsim takes only this user and password: an empty one is refused, so the reference is really what logs in.
        Environment.SetEnvironmentVariable("HZ_TEST_VSPHERE_PASSWORD", "");
        await File.WriteAllTextAsync(passwordFile, "", Ct);
        var refused = await Assert.ThrowsAsync<TestbedException>(() => adapter.ReadBackAsync(context, testbed.Guests[0], Ct));
        Assert.Contains("failed", refused.Message, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        Environment.SetEnvironmentVariable("PATH", oldPath);
        Environment.SetEnvironmentVariable("HZ_TEST_VSPHERE_PASSWORD", null);
        if (vcsim is { HasExited: false })
        {
            vcsim.Kill();
            await vcsim.WaitForExitAsync(CancellationToken.None);
        }

        vcsim?.Dispose();
        Directory.Delete(dir, recursive: true);
    }
}
