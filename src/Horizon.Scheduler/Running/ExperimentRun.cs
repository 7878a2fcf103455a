using System.Collections.Immutable;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Workloads;

namespace Horizon.Scheduler.Running;

/// <summary>One experiment of a running campaign: its plan, its grain, and what the stages learned about it so far.</summary>
internal sealed class ExperimentRun(ExperimentPlan plan, ExperimentDefinition definition, IExperimentGrain grain, ImmutableArray<GuestSpec> guests, ExperimentSnapshot snapshot, GuestSessions sessions)
{
    public ExperimentPlan Plan { get; } = plan;

    public ExperimentDefinition Definition { get; } = definition;

    public IExperimentGrain Grain { get; } = grain;

    public ImmutableArray<GuestSpec> Guests { get; } = guests;

    public ExperimentSnapshot Snapshot { get; set; } = snapshot;

    public bool Prepared { get; set; }

    public bool Done { get; set; }

    public ExperimentStatus FinalStatus { get; set; } = ExperimentStatus.Pending;

    public string? Note { get; set; }

    public string? LastFailure { get; set; }

    public WorkloadScripts? Scripts { get; set; }

    public WorkloadDefinition? Workload { get; set; }

    /// <summary>The services this experiment holds on the network peer (e.g. one iperf3 server per concurrent guest).</summary>
    public List<SharedPeerService> PeerServices { get; } = [];

    /// <summary>The scheme's placement as applied and read back before the last block (see <see cref="CpuPlacement"/>).</summary>
    public PlacementResult Placement { get; set; } = PlacementResult.None;

    public ImmutableArray<HostDescription> Hosts { get; set; } = [];

    public string Workdir(int guest) => $"{Guests[guest].Workdir.TrimEnd('/')}/{Definition.Id:N}";

    /// <summary>The guest's session, shared by every experiment of the campaign.</summary>
    public IGuestTransport Transport(int guest) => sessions.Guest(Guests[guest]);
}
