namespace Horizon.Statistics;

/// <summary>How many rounds an experiment runs: a fixed count, or adaptive between a minimum and a hard maximum.</summary>
public sealed record RoundPolicy(int Min, int Max, double? TargetRelativeHalfWidth)
{
    public static RoundPolicy Fixed(int rounds) => new(rounds, rounds, null);

    public static RoundPolicy Adaptive(int min, int max, double target) => new(min, max, target);

    public bool IsAdaptive => TargetRelativeHalfWidth is not null;

    /// <summary>Attempts per guest (measured and failed rounds) after which an experiment stops: a broken guest cannot loop forever.</summary>
    public int AttemptBudget => Max * 2;

    /// <summary>
    /// Whether an experiment of <paramref name="guests"/> guests has nothing left to run: every guest measured the maximum,
    /// or the next round index (attempts per guest) reached the attempt budget.
    /// </summary>
    public bool IsSpent(int measuredOverGuests, int guests, int nextRound) => measuredOverGuests >= Max * guests || nextRound >= AttemptBudget;

    /// <summary>Whether enough rounds were measured for the experiment to count as completed (the minimum on every guest, in total).</summary>
    public bool IsMet(int measuredOverGuests, int guests) => measuredOverGuests >= Min * guests;

    /// <summary>Decides after a measured round; <paramref name="measured"/> holds successful rounds only.</summary>
    public StopDecision Decide(SampleStatistics? measured, int attempted)
    {
        var n = measured?.N ?? 0;
        if (n >= Max)
        {
            return new StopDecision(true, IsAdaptive ? $"reached the maximum of {Max} rounds" : $"{Max} rounds done");
        }

        // Failed rounds count against a budget so a broken guest cannot loop forever.
        if (attempted >= AttemptBudget)
        {
            return new StopDecision(true, $"{attempted} rounds attempted, only {n} measured");
        }

        if (IsAdaptive && measured is not null && n >= Math.Max(Min, 2) && measured.RelativeHalfWidth <= TargetRelativeHalfWidth)
        {
            return new StopDecision(true, $"CI half-width {measured.RelativeHalfWidth:P1} ≤ target {TargetRelativeHalfWidth:P1} after {n} rounds");
        }

        return new StopDecision(false, null);
    }
}

public readonly record struct StopDecision(bool Stop, string? Reason);
