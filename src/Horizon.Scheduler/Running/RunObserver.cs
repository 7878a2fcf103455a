using Horizon.Config;
using Horizon.Grains;

namespace Horizon.Scheduler.Running;

/// <summary>
/// What a running campaign tells the outside — the user's progress and the scheduler's metrics — one call per event,
/// so no stage reports to one and forgets the other.
/// </summary>
internal sealed class RunObserver(IRunProgress progress)
{
    public void ExperimentStarted(ExperimentDefinition definition, ExperimentSnapshot snapshot)
    {
        SchedulerMetrics.ExperimentStarted(definition, snapshot);
        progress.ExperimentStarted(definition, snapshot);
    }

    public void RoundRecorded(ExperimentDefinition definition, RoundRecord round, ExperimentSnapshot snapshot, Platform platform)
    {
        SchedulerMetrics.RoundRecorded(definition, round, snapshot, Names.Of(platform));
        progress.RoundRecorded(definition, round, snapshot);
    }

    public void ExperimentFinished(ExperimentDefinition definition, ExperimentStatus status, string? note, ExperimentSnapshot snapshot)
    {
        SchedulerMetrics.ExperimentFinished(definition, snapshot);
        progress.ExperimentFinished(definition, status, note, snapshot);
    }

    public void Message(string text) => progress.Message(text);
}
