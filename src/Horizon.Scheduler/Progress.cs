using Horizon.Grains;
using Horizon.Results;

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

/// <summary>The one wording of progress lines, for the terminal and for a campaign followed through the API.</summary>
public static class ProgressLines
{
    public static string Round(ExperimentDefinition d, RoundRecord r, ExperimentSnapshot s) =>
        $"{d.Workload} {r.Guest} {(r.Warmup ? "warm-up " : "")}round {r.Round}: {(r.Outcome == RoundOutcome.Measured ? $"{r.Seconds:0.0000} s" : $"FAILED ({r.Reason})")}  n={s.Measured}/{d.MaxRounds} mean={Number(s.Mean)} ± {Number(s.HalfWidth)}";

    private static string Number(double? v) => v is { } x ? x.ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture) : "—";
}
