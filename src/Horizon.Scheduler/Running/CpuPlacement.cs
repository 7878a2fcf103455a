using System.Collections.Immutable;
using System.Text.Json;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Scheduler.Platforms;

namespace Horizon.Scheduler.Running;

/// <summary>
/// An experiment's CPU placement: per guest the affinity the round script runs under (native guests; null where the
/// platform holds the placement), what each guest's platform was asked for and read back, and each host's control CPUs.
/// </summary>
internal sealed record PlacementResult(IReadOnlyList<string?> Affinity, IReadOnlyList<object?> Guests, IReadOnlyDictionary<string, object?> HostControl)
{
    public static PlacementResult None { get; } = new([], [], new Dictionary<string, object?>());
}

/// <summary>Applies CPU schemes through the platform adapters and reads them back; host topologies are discovered once.</summary>
internal sealed class CpuPlacement(IGrainFactory grains, Testbed testbed, GuestSessions sessions)
{
    private readonly Dictionary<string, HostTopology> topologies = [];

    /// <summary>
    /// Applies the experiment's CPU scheme on every host its guests run on, through each platform's adapter, and reads
    /// the placement back; a difference stops the experiment before it runs. Returns, per guest, the affinity to give
    /// the workload's processes inside the guest (native guests; null elsewhere — the platform holds the placement), and
    /// what was planned and read back, for the experiment's recorded environment.
    /// </summary>
    public async Task<PlacementResult> PlaceAsync(ExperimentRun run, CancellationToken ct)
    {
        var affinity = new string?[run.Guests.Length];
        var placement = new object?[run.Guests.Length];
        var hostControl = new Dictionary<string, object?>();
        foreach (var group in run.Guests.Select((g, i) => (Guest: g, Index: i)).GroupBy(x => x.Guest.Host))
        {
            var host = testbed.Hosts.First(h => h.Name == group.Key);
            var members = group.ToList();
            var needsHost = run.Plan.Scheme != CpuScheme.Default || members.Any(m => PlatformAdapter.For(m.Guest.Platform) is not null);
            HostTopology topology;
            if (!topologies.TryGetValue(host.Name, out topology!))
            {
                // Native guests are their host: the topology comes from where the workload runs.
                var transport = members.All(m => m.Guest.Platform == Platform.Native) && host.Transport.Kind == TransportKind.Local
                    ? run.Transport(members[0].Index) : sessions.Host(host);
                var platformView = members.Select(m => (Adapter: PlatformAdapter.For(m.Guest.Platform), m.Guest)).FirstOrDefault(a => a.Adapter is not null);
                topologies[host.Name] = topology = (platformView.Adapter is null ? null : await platformView.Adapter.DiscoverTopologyAsync(host, platformView.Guest, sessions.Host(host), ct))
                    ?? await HostTopology.DiscoverAsync(transport, ct);
            }

            var plan = CpuPlanner.Plan(run.Plan.Scheme, [.. members.Select(m => m.Guest)], topology, host.ControlCpus, host.Name);
            var context = needsHost ? new HostContext(host, sessions.Host(host), topology) : null;
            for (var j = 0; j < members.Count; j++)
            {
                var (guest, index) = members[j];
                var adapter = PlatformAdapter.For(guest.Platform);
                var planned = plan.GuestVcpus[j];
                if (adapter is null)
                {
                    if (run.Plan.Share is not null)
                    {
                        throw new TestbedException(PlatformAdapter.NoShare(guest.Platform));
                    }

                    // Native: taskset around the round script; the guest reads its own affinity back (begin line).
                    affinity[index] = plan.GuestCpus(j);
                    placement[index] = new { adapter = "native (taskset in the guest)", planned = affinity[index] ?? "unpinned" };
                    continue;
                }

                await adapter.ApplyAsync(context!, guest, planned, ct);
                var readBack = await adapter.ReadBackAsync(context!, guest, ct);
                var expected = planned ?? [.. Enumerable.Repeat(topology.All, guest.Vcpus)];
                var same = adapter.PerGuest
                    ? CpuList.Same(string.Join(",", readBack), string.Join(",", expected))
                    : readBack.Count == expected.Count && readBack.Zip(expected).All(p => CpuList.Same(p.First, p.Second));
                if (!same)
                {
                    throw new TestbedException(
                        $"refusing to start: the {Names.Of(run.Plan.Scheme)} scheme on {Names.Of(guest.Platform)} guest '{guest.Name}' (host '{host.Name}') " +
                        $"wants vCPUs on [{string.Join(" | ", expected)}] but the platform reports [{string.Join(" | ", readBack)}]");
                }

                await adapter.ApplyHostControlAsync(context!, guest, plan, ct);
                if (await adapter.ReadHostControlAsync(context!, guest, ct) is { } control)
                {
                    var wanted = plan.HostControl ?? topology.All;
                    if (!CpuList.Same(control, wanted))
                    {
                        throw new TestbedException(
                            $"refusing to start: host control on '{host.Name}' should run on CPUs {wanted} under {Names.Of(run.Plan.Scheme)} but the platform reports {(control.Length == 0 ? "none" : control)}");
                    }

                    hostControl[host.Name] = new { cpus = control, vcpus = plan.HostControlVcpus };
                }

                var share = await adapter.ApplyShareAsync(context!, guest, run.Plan.Share, ct);
                placement[index] = share is null
                    ? new { adapter = Names.Of(guest.Platform), planned = expected, read_back = readBack }
                    : (object)new { adapter = Names.Of(guest.Platform), planned = expected, read_back = readBack, credit = new { weight = share.Weight, cap = share.Cap } };
            }

            hostControl.TryAdd(host.Name, new { topology = topology.Describe(), control = plan.HostControl });
            // The host grain shows what runs where now (the API's testbed view, the testbed dashboard).
            await grains.GetGrain<IHostGrain>($"{testbed.Name}/{host.Name}").SetPlacement(Names.Of(run.Plan.Scheme), members.ToImmutableSortedDictionary(
                m => m.Guest.Name, m => affinity[m.Index] ?? (placement[m.Index] is { } p ? JsonSerializer.Serialize(p) : "unpinned"), StringComparer.Ordinal));
        }

        return new PlacementResult(affinity, placement, hostControl);
    }
}
