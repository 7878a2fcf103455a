using System.Collections.Immutable;
using Horizon.Desk;
using Horizon.Grains;
using Microsoft.Extensions.Configuration;

namespace Horizon.Cluster;

/// <summary>
/// The cluster's campaign desk (one activation, key "default", state in the cluster's grain storage): controller silos'
/// APIs submit and read here, agents (scheduler services, one per test computer) claim and report here. Each experiment
/// goes to a live agent that serves every test host its guests sit on; a campaign spanning test computers is split, each
/// agent running its own experiments at the same time. An agent silent for <see cref="SubmissionsGrain.DefaultSilentAfter"/>
/// (setting Horizon:AgentSilentAfter) is presumed dead: its experiments go to the next agent that serves their hosts (the
/// same agent restarted takes them back at once) and resume from the rounds already recorded.
/// </summary>
[Alias("horizon.submissions")]
public interface ISubmissionsGrain : IGrainWithStringKey
{
    [Alias("submit")]
    Task<SubmissionEntry?> Submit(SubmissionEntry entry);

    [Alias("find")]
    Task<SubmissionEntry?> Find(string name);

    [Alias("all")]
    Task<ImmutableArray<SubmissionEntry>> All();

    [Alias("cancel")]
    Task<bool> Cancel(string name);

    [Alias("claim")]
    Task<SubmissionTicket?> Claim(AgentHello hello);

    /// <summary>Returns true when the agent should stop its part (cancelled, or handed to another agent).</summary>
    [Alias("report")]
    Task<bool> Report(string name, string agent, SubmissionReport report);

    [Alias("agents")]
    Task<ImmutableArray<AgentView>> Agents();

    /// <summary>Testbeds the desk has heard of: served by an agent, or named by a submitted campaign.</summary>
    [Alias("testbeds")]
    Task<ImmutableArray<string>> Testbeds();
}

[GenerateSerializer, Alias("horizon.submissions-state")]
public sealed class SubmissionsState
{
    [Id(0)] public Dictionary<string, SubmissionEntry> Entries { get; set; } = new(StringComparer.Ordinal);

    [Id(1)] public Dictionary<string, AgentRecord> Agents { get; set; } = new(StringComparer.Ordinal);
}

public sealed class SubmissionsGrain(
    [PersistentState("submissions", HorizonGrainStorage.Name)] IPersistentState<SubmissionsState> state,
    TimeProvider time,
    IConfiguration configuration) : Grain, ISubmissionsGrain
{
    public static readonly TimeSpan DefaultSilentAfter = TimeSpan.FromSeconds(45);
    private const int KeptFinished = 100;
    private const int KeptLines = 200;
    private const int KeptAgents = 200;

    private readonly TimeSpan silentAfter = configuration.GetValue<TimeSpan?>("Horizon:AgentSilentAfter") ?? DefaultSilentAfter;

    private Dictionary<string, SubmissionEntry> Entries => state.State.Entries;

    private Dictionary<string, AgentRecord> AgentRecords => state.State.Agents;

    public async Task<SubmissionEntry?> Submit(SubmissionEntry entry)
    {
        if (Entries.TryGetValue(entry.Name, out var existing) && existing.State is SubmissionState.Queued or SubmissionState.Running)
        {
            return null;
        }

        entry.State = SubmissionState.Queued;
        entry.SubmittedAt = time.GetUtcNow();
        Say(entry, $"queued: {entry.Experiments} experiment(s) on testbed {entry.TestbedName}");
        Entries[entry.Name] = entry;
        foreach (var old in Entries.Values.Where(e => e.FinishedAt is not null).OrderByDescending(e => e.FinishedAt).Skip(KeptFinished).ToList())
        {
            Entries.Remove(old.Name);
        }

        SayWaiting(entry, time.GetUtcNow());
        await state.WriteStateAsync();
        return entry;
    }

    public Task<SubmissionEntry?> Find(string name)
    {
        // The reason to wait is said afresh on every read: with no agent left alive, nobody else would notice.
        if (Entries.GetValueOrDefault(name) is { } e)
        {
            SayWaiting(e, time.GetUtcNow());
        }

        return Task.FromResult(Entries.GetValueOrDefault(name));
    }

    public Task<ImmutableArray<SubmissionEntry>> All()
    {
        var now = time.GetUtcNow();
        foreach (var e in Entries.Values)
        {
            SayWaiting(e, now);
        }

        return Task.FromResult(Entries.Values.OrderBy(e => e.SubmittedAt).ToImmutableArray());
    }

    public async Task<bool> Cancel(string name)
    {
        if (Entries.GetValueOrDefault(name) is not { State: SubmissionState.Queued or SubmissionState.Running } e)
        {
            return false;
        }

        var now = time.GetUtcNow();
        if (e.State == SubmissionState.Queued)
        {
            foreach (var p in Parts(e))
            {
                p.State = SubmissionState.Cancelled;
            }

            Finish(e, SubmissionState.Cancelled, "cancelled before it started");
        }
        else
        {
            e.CancelRequested = true;
            Say(e, "cancel requested");
            // What no live agent runs stops here; live agents stop their parts at their next report.
            foreach (var p in Parts(e).Where(p => p.State == SubmissionState.Queued || (p.State == SubmissionState.Running && !Live(p.Agent, now))))
            {
                p.State = SubmissionState.Cancelled;
            }

            Conclude(e);
        }

        await state.WriteStateAsync();
        return true;
    }

    public async Task<SubmissionTicket?> Claim(AgentHello hello)
    {
        var now = time.GetUtcNow();
        var write = Heard(hello, now);
        var served = hello.Hosts.Select(h => h.Endpoint).ToHashSet(StringComparer.Ordinal);
        bool Serves(PlacedExperiment p) => p.Endpoints.Count == 0 || hello.ServesAny || p.Endpoints.All(served.Contains);

        var open = Entries.Values.Where(e => e.State is SubmissionState.Queued or SubmissionState.Running && !e.CancelRequested).OrderBy(e => e.SubmittedAt).ToList();
        SubmissionTicket? ticket = null;
        // An agent that restarted gets its own experiments back first; then experiments whose agent went silent; then the queue.
        foreach (var e in open)
        {
            var mine = Parts(e).Where(p => p.State == SubmissionState.Running && p.Agent == hello.Id).ToList();
            if (mine.Count > 0)
            {
                Say(e, $"agent {hello.Id} restarted: it resumes {mine.Count} experiment(s) from the rounds already recorded");
                ticket = Hand(e, mine, hello, true, now);
                break;
            }
        }

        foreach (var e in ticket is null ? open : [])
        {
            var orphans = Parts(e).Where(p => p.State == SubmissionState.Running && !Live(p.Agent, now) && Serves(p)).ToList();
            if (orphans.Count > 0)
            {
                var silent = string.Join(", ", orphans.Select(p => p.Agent).Distinct().Select(a =>
                    $"{a} (silent since {(AgentRecords.TryGetValue(a ?? "", out var r) ? r.HeardAt : e.HeardAt):HH:mm:ss})"));
                Say(e, $"agent {silent}: {hello.Id} resumes {orphans.Count} experiment(s) from the rounds already recorded");
                ticket = Hand(e, orphans, hello, true, now);
                break;
            }
        }

        foreach (var e in ticket is null ? open : [])
        {
            var queued = Parts(e).Where(p => p.State == SubmissionState.Queued && Serves(p)).ToList();
            if (queued.Count > 0)
            {
                Say(e, $"agent {hello.Id} ({hello.Machine}) takes {queued.Count} of {Parts(e).Count} experiment(s)");
                ticket = Hand(e, queued, hello, false, now);
                break;
            }
        }

        foreach (var e in open)
        {
            write |= SayWaiting(e, now);
        }

        if (ticket is not null || write)
        {
            await state.WriteStateAsync();
        }

        return ticket;
    }

    public async Task<bool> Report(string name, string agent, SubmissionReport report)
    {
        var now = time.GetUtcNow();
        if (Entries.GetValueOrDefault(name) is not { State: SubmissionState.Running } e)
        {
            return true;
        }

        var mine = Parts(e).Where(p => p.Agent == agent && p.State == SubmissionState.Running).ToList();
        if (mine.Count == 0)
        {
            return true;
        }

        if (AgentRecords.TryGetValue(agent, out var record))
        {
            record.HeardAt = now;
        }

        e.HeardAt = now;
        e.Measured += report.NewMeasured;
        e.Failed += report.NewFailed;
        foreach (var line in report.NewLines)
        {
            Append(e, Parts(e).Select(p => p.Agent).Distinct().Count() > 1 ? $"[{agent}] {line}" : line);
        }

        if (report.State != SubmissionState.Running)
        {
            foreach (var p in mine)
            {
                (p.State, p.Detail) = (report.State, report.Detail);
            }

            Conclude(e);
        }

        await state.WriteStateAsync();
        return e.CancelRequested;
    }

    public Task<ImmutableArray<AgentView>> Agents()
    {
        var now = time.GetUtcNow();
        return Task.FromResult(AgentRecords.Values.OrderBy(a => a.Hello.Id, StringComparer.Ordinal).Select(a =>
        {
            var running = Entries.Values.Where(e => e.State == SubmissionState.Running)
                .Select(e => (e.Name, Count: e.Placement.Count(p => p.Agent == a.Hello.Id && p.State == SubmissionState.Running)))
                .FirstOrDefault(x => x.Count > 0);
            return new AgentView(a.Hello.Id, a.Hello.Machine, a.Hello.Pid, Live(a.Hello.Id, now), a.HeardAt, a.Hello.StartedAt, a.Hello.ServesAny,
                a.Hello.Hosts, a.Hello.Probes, a.Hello.Hardware, a.Hello.Unreachable, running.Name, running.Count,
                a.FirstClaimAt is { } f ? (f - a.Hello.StartedAt).TotalSeconds : null);
        }).ToImmutableArray());
    }

    public Task<ImmutableArray<string>> Testbeds() => Task.FromResult(AgentRecords.Values.SelectMany(a => a.Hello.Hosts.Select(h => h.Testbed))
        .Concat(Entries.Values.Select(e => e.TestbedName)).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToImmutableArray());

    /// <summary>Registers the agent or notes that it was heard; true when what it says about itself changed (worth a write).</summary>
    private bool Heard(AgentHello hello, DateTimeOffset now)
    {
        if (AgentRecords.TryGetValue(hello.Id, out var record))
        {
            var changed = !Same(record.Hello, hello);
            if (record.Hello.StartedAt != hello.StartedAt)
            {
                record.FirstClaimAt = null;
            }

            (record.Hello, record.HeardAt) = (hello, now);
            return changed;
        }

        AgentRecords[hello.Id] = new AgentRecord { Hello = hello, HeardAt = now };
        foreach (var old in AgentRecords.Values.OrderByDescending(a => a.HeardAt).Skip(KeptAgents).ToList())
        {
            AgentRecords.Remove(old.Hello.Id);
        }

        return true;
    }

    private static bool Same(AgentHello a, AgentHello b) =>
        a.Machine == b.Machine && a.Pid == b.Pid && a.ServesAny == b.ServesAny && a.Probes == b.Probes && a.StartedAt == b.StartedAt
        && a.Hosts.SequenceEqual(b.Hosts) && a.Unreachable.SequenceEqual(b.Unreachable) && Equals(a.Hardware, b.Hardware);

    private bool Live(string? agent, DateTimeOffset now) =>
        agent is not null && AgentRecords.TryGetValue(agent, out var a) && now - a.HeardAt <= silentAfter;

    /// <summary>The entry's experiments as placed; an entry written before agents is one part any agent may run.</summary>
    private static List<PlacedExperiment> Parts(SubmissionEntry e)
    {
        if (e.Placement.Count == 0)
        {
            e.Placement.Add(new PlacedExperiment
            {
                Key = "*",
                Agent = e.Worker,
                State = e.State,
            });
        }

        return e.Placement;
    }

    private SubmissionTicket Hand(SubmissionEntry e, List<PlacedExperiment> parts, AgentHello hello, bool resumed, DateTimeOffset now)
    {
        foreach (var p in parts)
        {
            (p.Agent, p.State, p.Detail) = (hello.Id, SubmissionState.Running, null);
        }

        var record = AgentRecords[hello.Id];
        record.FirstClaimAt ??= now;
        e.State = SubmissionState.Running;
        e.Worker = string.Join(",", Parts(e).Select(p => p.Agent).OfType<string>().Distinct());
        e.HeardAt = now;
        return new SubmissionTicket(e.Name, e.Testbed, e.Campaign, e.Preset, resumed || e.Measured + e.Failed > 0,
            parts.Any(p => p.Key == "*") ? [] : [.. parts.Select(p => p.Key)]);
    }

    /// <summary>Ends the entry when every experiment has ended: cancelled, failed (with each part's reason) or completed.</summary>
    private void Conclude(SubmissionEntry e)
    {
        var parts = Parts(e);
        if (parts.Any(p => p.State is SubmissionState.Queued or SubmissionState.Running))
        {
            var done = parts.Where(p => p.State is not (SubmissionState.Queued or SubmissionState.Running)).ToList();
            if (done.Count > 0)
            {
                Say(e, $"{done.Count} of {parts.Count} experiment(s) ended; waiting for the others");
            }

            return;
        }

        var state = parts.Any(p => p.State == SubmissionState.Cancelled) || e.CancelRequested ? SubmissionState.Cancelled
            : parts.Any(p => p.State == SubmissionState.Failed) ? SubmissionState.Failed : SubmissionState.Completed;
        var agents = parts.Select(p => p.Agent).Distinct().Count();
        var details = parts.Where(p => p.State != SubmissionState.Completed && p.Detail is not null)
            .GroupBy(p => (p.Agent, p.Detail)).Select(g => agents > 1 ? $"{g.Key.Agent}: {g.Key.Detail}" : g.Key.Detail!).ToList();
        e.State = state;
        e.Detail = details.Count > 0 ? string.Join("; ", details) : state == SubmissionState.Cancelled ? "cancelled: every round recorded so far is kept" : null;
        e.FinishedAt = time.GetUtcNow();
        if (agents > 1)
        {
            Say(e, $"{state.ToString().ToLowerInvariant()}: {parts.Count} experiment(s) on {agents} agents{(e.Detail is null ? "" : $" ({e.Detail})")}");
        }
    }

    /// <summary>
    /// Why experiments still wait, or null: no live agent serves one of their hosts (named, with its endpoint), or their
    /// hosts sit behind different agents (an experiment is measured by one agent's timing socket).
    /// </summary>
    private string? Waiting(SubmissionEntry e, DateTimeOffset now)
    {
        if (e.State is not (SubmissionState.Queued or SubmissionState.Running) || e.CancelRequested)
        {
            return null;
        }

        var live = AgentRecords.Values.Where(a => Live(a.Hello.Id, now)).ToList();
        var stuck = new List<string>();
        var count = 0;
        foreach (var p in Parts(e).Where(p => p.State == SubmissionState.Queued || (p.State == SubmissionState.Running && !Live(p.Agent, now))))
        {
            if (live.Any(a => p.Endpoints.Count == 0 || a.Hello.ServesAny || p.Endpoints.All(x => a.Hello.Hosts.Any(h => h.Endpoint == x))))
            {
                continue;
            }

            count++;
            var silent = p.State == SubmissionState.Running ? $"its agent {p.Agent} is silent; " : "";
            var unserved = p.Endpoints.Select((x, i) => (x, i)).Where(x => !live.Any(a => a.Hello.Hosts.Any(h => h.Endpoint == x.x))).Select(x => p.Hosts[x.i]).ToList();
            var reason = p.Endpoints.Count == 0 ? "no agent is running"
                : unserved.Count > 0 ? $"no live agent serves host {string.Join(", ", unserved)}"
                : $"its hosts ({string.Join(", ", p.Hosts)}) sit behind different agents, and one experiment is measured by one agent";
            var line = silent + reason;
            if (!stuck.Contains(line))
            {
                stuck.Add(line);
            }
        }

        return count == 0 ? null : $"waiting: {count} experiment(s): {string.Join("; ", stuck)}";
    }

    /// <summary>Says a new "waiting" reason once in the log (and that it ended); true when something was said.</summary>
    private bool SayWaiting(SubmissionEntry e, DateTimeOffset now)
    {
        var waiting = Waiting(e, now);
        if (waiting == e.Waiting)
        {
            return false;
        }

        if (waiting is not null)
        {
            Say(e, waiting);
        }

        e.Waiting = waiting;
        return true;
    }

    private void Finish(SubmissionEntry e, SubmissionState s, string? detail)
    {
        e.State = s;
        e.Detail = detail;
        e.FinishedAt = time.GetUtcNow();
        Say(e, s.ToString().ToLowerInvariant() + (detail is null ? "" : $": {detail}"));
    }

    private void Say(SubmissionEntry e, string line) => Append(e, $"{time.GetUtcNow():HH:mm:ss} {line}");

    private static void Append(SubmissionEntry e, string line)
    {
        e.LogTotal++;
        e.Log.Add(line);
        if (e.Log.Count > KeptLines)
        {
            e.Log.RemoveRange(0, e.Log.Count - KeptLines);
        }
    }
}
