using System.Collections.Concurrent;
using Horizon.Config;
using Horizon.Scheduler.Platforms;
using Horizon.Scripts;
using Horizon.Timing;

namespace Horizon.Scheduler.Running;

/// <summary>A guest and a round index of one block: the key of everything a guest reports about a round.</summary>
internal readonly record struct GuestRound(int Guest, int Round);

/// <summary>
/// What the guests of one block report on their script's output (typed guest lines): per round its line, error tail
/// and output; ready and stopped signals; a CPU affinity that differs from the scheme's. Rounds a guest reports or
/// abandons are passed on to the timing session, which concludes them.
/// </summary>
internal sealed class GuestReports(ExperimentTiming session, ExperimentRun run)
{
    private readonly ConcurrentDictionary<GuestRound, RoundLine> lines = new();
    private readonly ConcurrentDictionary<GuestRound, string> tails = new();
    private readonly ConcurrentDictionary<GuestRound, string> outputs = new();
    private readonly ConcurrentDictionary<GuestRound, bool> reported = new();
    private readonly ConcurrentDictionary<GuestRound, TaskCompletionSource> lineArrived = new();
    private readonly ConcurrentDictionary<int, int> stoppedAt = new();
    private readonly ConcurrentBag<string> cpuMismatch = [];

    public CountdownEvent Ready { get; } = new(run.Guests.Length);

    /// <summary>Per guest, the first round it did not run because it was told to stop.</summary>
    public IReadOnlyDictionary<int, int> StoppedAt => stoppedAt;

    public IEnumerable<string> CpuMismatches => cpuMismatch;

    public void Handle(int guest, string text)
    {
        switch (GuestLine.Parse(text))
        {
            case BeginLine b when run.Placement.Affinity[guest] is { } wanted && !SameCpus(b.Cpus, wanted):
                cpuMismatch.Add($"guest '{run.Guests[guest].Name}' runs on CPUs {b.Cpus}, the {Names.Of(run.Plan.Scheme)} scheme wants {wanted}");
                break;
            case ReadyLine:
                Ready.Signal();
                break;
            case RoundLine r:
                lines[new(guest, r.Round)] = r;
                reported[new(guest, r.Round)] = true;
                Arrival(new(guest, r.Round)).TrySetResult();
                session.GuestReported((uint)guest, (uint)r.Round);
                break;
            case TailLine t:
                tails[new(guest, t.Round)] = t.Text;
                break;
            case OutputLine o:
                outputs[new(guest, o.Round)] = Decode(o.Base64);
                break;
            case BeforeFailedLine f:
                reported[new(guest, f.Round)] = true;
                session.Abandon((uint)guest, (uint)f.Round, $"the untimed before-round step failed: {f.Text}");
                break;
            case StoppedLine s:
                stoppedAt[guest] = s.Round;
                break;
        }
    }

    public bool WasReported(GuestRound key) => reported.ContainsKey(key);

    /// <summary>Waits (at most <paramref name="limit"/>) for the guest's line of a round; no polling.</summary>
    public async Task WaitForLineAsync(GuestRound key, TimeSpan limit, CancellationToken ct)
    {
        try
        {
            await Arrival(key).Task.WaitAsync(limit, ct);
        }
        catch (TimeoutException)
        {
            // The line never came (a killed script): the round is recorded without it.
        }
    }

    private TaskCompletionSource Arrival(GuestRound key) =>
        lineArrived.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>What the guest said about a round: its line (exit code, own clock), error tail and output, each possibly missing.</summary>
    public GuestReport ReportOf(GuestRound key) =>
        new(lines.GetValueOrDefault(key), tails.GetValueOrDefault(key), outputs.GetValueOrDefault(key));

    /// <summary>Whether the guest stopped (as told) before reaching this round.</summary>
    public bool StoppedBefore(GuestRound key) => stoppedAt.TryGetValue(key.Guest, out var s) && key.Round >= s;

    /// <summary>A guest that reports garbage for its CPUs does not run where the scheme wants it.</summary>
    private static bool SameCpus(string actual, string wanted)
    {
        try
        {
            return CpuList.Same(actual, wanted);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Decode(string base64)
    {
        try
        {
            return System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return "";
        }
    }
}

/// <summary>What a guest's script said about one round.</summary>
internal sealed record GuestReport(RoundLine? Line, string? Tail, string? Output);
