using Horizon.Config;
using Horizon.Scripts;
using Horizon.Workloads;

namespace Horizon.Scheduler.Running;

/// <summary>A service on the network peer (an iperf3 server, a traffic sink) and how many unfinished experiments use it.</summary>
internal sealed class SharedPeerService(IGuestTransport transport, PeerService service)
{
    public IGuestTransport Transport { get; } = transport;

    public PeerService Service { get; } = service;

    public int Users { get; set; }
}

/// <summary>
/// Starts the services experiments need on the network peer, once for all the experiments that share one (experiments
/// interleave: a service runs while any experiment that uses it is unfinished), and stops each when its last user ends.
/// </summary>
internal sealed class PeerServices(Testbed testbed, RunObserver observer)
{
    private readonly Dictionary<string, SharedPeerService> running = [];

    /// <summary>The running service for <paramref name="service"/>, started (tools checked first) if it is not running yet.</summary>
    public async Task<SharedPeerService> AcquireAsync(WorkloadDefinition workload, PeerService service, CancellationToken ct)
    {
        var peer = testbed.Peer ?? throw new TestbedException($"{workload.Name} needs the testbed's network peer");
        if (!running.TryGetValue(service.Start, out var shared))
        {
            var transport = Transports.For(peer.Name, peer.Transport);
            var check = await transport.RunAsync(GuestScripts.ToolCheck(workload.Tools), TimeSpan.FromMinutes(1), null, ct);
            if (check.Stdout.Split('\n').Select(GuestLine.Parse).OfType<MissingLine>().FirstOrDefault() is { } m)
            {
                throw new TestbedException($"the network peer '{peer.Name}' lacks {m.Text.Split('|')[0]}: apt-get install {m.Text.Split('|')[1]}");
            }

            await transport.RunAsync(service.Stop, TimeSpan.FromSeconds(30), null, ct);
            var started = await transport.RunAsync(service.Start, TimeSpan.FromSeconds(30), null, ct);
            if (started.ExitCode != 0)
            {
                throw new TestbedException($"cannot start the {service.Describe} on the network peer '{peer.Name}': {started.ErrorTail}");
            }

            shared = new SharedPeerService(transport, service);
            running[service.Start] = shared;
        }

        shared.Users++;
        return shared;
    }

    /// <summary>One user is done with the service; the last one stops it (a failure to stop is reported, not thrown).</summary>
    public async Task ReleaseAsync(SharedPeerService shared)
    {
        if (--shared.Users > 0)
        {
            return;
        }

        running.Remove(shared.Service.Start);
        try
        {
            await shared.Transport.RunAsync(shared.Service.Stop, TimeSpan.FromSeconds(30), null, CancellationToken.None);
        }
        catch (Exception e) when (e is TestbedException or IOException)
        {
            observer.Message($"stopping the {shared.Service.Describe} on the peer failed: {e.Message}");
        }

        await shared.Transport.DisposeAsync();
    }
}
