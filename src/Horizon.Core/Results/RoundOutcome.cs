namespace Horizon.Results;

/// <summary>
/// How a round ended: measured (both probes arrived, the workload succeeded) or failed (with a reason beside it). The
/// timing service concludes a round's probes with it and the recorded round carries it: one idea, one type.
/// </summary>
public enum RoundOutcome
{
    Measured,
    Failed,
}
