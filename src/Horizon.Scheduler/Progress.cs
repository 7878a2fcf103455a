using Horizon.Grains;

namespace Horizon.Scheduler;

/// <summary>What a campaign run tells its user while it runs.</summary>
public interface IRunProgress
{
    void ExperimentStarted(ExperimentDefinition definition, ExperimentSnapshot snapshot)
    {
    }

    void RoundRecorded(ExperimentDefinition definition, RoundRecord round, ExperimentSnapshot snapshot)
    {
    }

    void ExperimentFinished(ExperimentDefinition definition, ExperimentStatus status, string? note, ExperimentSnapshot snapshot)
    {
    }

    void Message(string text)
    {
    }
}

public sealed class SilentProgress : IRunProgress
{
    public static SilentProgress Instance { get; } = new();
}
