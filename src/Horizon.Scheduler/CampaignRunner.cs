using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Text.Json;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Probes;
using Horizon.Scripts;
using Horizon.Timing;
using Horizon.Workloads;

namespace Horizon.Scheduler;

public sealed record CampaignOutcome(string Campaign, ImmutableArray<(ExperimentDefinition Definition, ExperimentStatus Status, string? Note)> Experiments)
{
    public bool AllCompleted => Experiments.All(e => e.Status == ExperimentStatus.Completed);
}

public sealed record RunnerOptions(TimeSpan PrepareTimeout, TimeSpan MissingProbeGrace)
{
    public static RunnerOptions Default { get; } = new(TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(2));
}

/// <summary>
/// Runs a campaign: prepares guests, then runs experiments in interleaved round blocks (seeded order, recorded),
/// guests running their rounds by themselves while the timing service measures them from their probes.
/// </summary>
public sealed partial class CampaignRunner(IGrainFactory grains, TimingService timing, Testbed testbed, IRunProgress? progress = null, RunnerOptions? options = null)
{
    /// <summary>Round metric: the start probe's arrival, seconds on the controller's monotonic clock.</summary>
    public const string StartMetric = Results.RoundResult.StartMetric;

    private readonly IRunProgress progress = progress ?? SilentProgress.Instance;
    private readonly RunnerOptions options = options ?? RunnerOptions.Default;
    private readonly Dictionary<string, HostDescription> described = [];
    private readonly Dictionary<string, SharedPeerService> peerServices = [];
    private readonly Dictionary<string, IGuestTransport> sessions = [];

    /// <summary>One long-lived session per guest for the whole campaign (SSH: one connection, reconnected on drop).</summary>
    private IGuestTransport Session(GuestSpec guest)
    {
        lock (sessions)
        {
            if (!sessions.TryGetValue(guest.Name, out var session))
            {
                sessions[guest.Name] = session = Transports.For(guest);
            }

            return session;
        }
    }

    public async Task<CampaignOutcome> RunAsync(Campaign campaign, CancellationToken ct = default)
    {
        var campaignGrain = grains.GetGrain<ICampaignGrain>(campaign.Name);
        var ids = await campaignGrain.Plan(testbed.Name, [.. campaign.Experiments.Select(e => e.Key)]);
        var runs = new List<ExperimentRun>();
        for (var i = 0; i < campaign.Experiments.Length; i++)
        {
            var plan = campaign.Experiments[i];
            var guests = plan.Guests.Select(testbed.Guest).ToImmutableArray();
            var def = new ExperimentDefinition(
                ids[plan.Key], campaign.Name, plan.Key, plan.Workload.Name, plan.Workload.Parameters, plan.Guests,
                [.. guests.Select(g => Names.Of(g.Platform))], Names.Of(plan.Scheme), plan.Rounds.Min, plan.Rounds.Max,
                plan.Rounds.TargetRelativeHalfWidth, plan.RoundTimeout.TotalSeconds, i, WorkloadCatalog.Get(plan.Workload.Name).PrimaryMetric.Name);
            var grain = grains.GetGrain<IExperimentGrain>(def.Id);
            var snapshot = await grain.Define(def);
            runs.Add(new ExperimentRun(plan, def, grain, guests, snapshot) { Sessions = Session });
        }

        foreach (var run in runs.Where(r => r.Snapshot.Status is ExperimentStatus.Completed or ExperimentStatus.Failed))
        {
            run.Done = true;
            run.FinalStatus = run.Snapshot.Status;
            progress.Message($"{run.Definition.Key}: already {run.Snapshot.Status.ToString().ToLowerInvariant()} ({run.Snapshot.Measured} rounds measured), skipped");
        }

        try
        {
            var pass = 0;
            var sequence = (await campaignGrain.RunOrder()).Length;
            while (runs.Any(r => !r.Done))
            {
                ct.ThrowIfCancellationRequested();
                var random = new Random(HashCode.Combine(campaign.Interleave.Seed, pass++));
                var order = runs.Where(r => !r.Done).OrderBy(_ => random.Next()).ToList();
                foreach (var run in order)
                {
                    ct.ThrowIfCancellationRequested();
                    if (!run.Prepared)
                    {
                        if (!await PrepareAsync(run, ct))
                        {
                            continue;
                        }
                    }

                    var count = Math.Min(campaign.Interleave.BlockRounds, Math.Max(1, run.Plan.Rounds.Max - run.Snapshot.Measured));
                    var first = await run.Grain.ReserveRounds(count);
                    await campaignGrain.AppendRunOrder(run.Definition.Id, first, count);
                    sequence++;
                    try
                    {
                        await RunBlockAsync(run, first, count, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        throw;
                    }
                    catch (Exception e) when (e is InvalidOperationException or IOException or NotSupportedException)
                    {
                        await FinishAsync(run, ExperimentStatus.Failed, e.Message, ct);
                    }
                }
            }
        }
        finally
        {
            foreach (var session in sessions.Values.Concat(hostSessions.Values))
            {
                await session.DisposeAsync();
            }

            sessions.Clear();
            hostSessions.Clear();
        }

        return new CampaignOutcome(campaign.Name, [.. runs.Select(r => (r.Definition, r.FinalStatus, r.Note))]);
    }

    private async Task<bool> PrepareAsync(ExperimentRun run, CancellationToken ct)
    {
        var def = WorkloadCatalog.Get(run.Plan.Workload.Name);
        SchedulerMetrics.ExperimentStarted(run.Definition, run.Snapshot);
        progress.ExperimentStarted(run.Definition, run.Snapshot);
        try
        {
            run.Workload = def;
            var context = new WorkloadContext(testbed.Peer?.DataAddress);
            run.Scripts = def.Build(run.Plan.Workload, context);
            if (def.Peer(run.Plan.Workload, context) is { } service)
            {
                var peer = testbed.Peer ?? throw new InvalidOperationException($"{def.Name} needs the testbed's network peer");
                if (!peerServices.TryGetValue(service.Start, out var shared))
                {
                    var peerTransport = Transports.For(peer.Name, peer.Transport);
                    var check = await peerTransport.RunAsync(GuestScripts.ToolCheck(def.Tools), TimeSpan.FromMinutes(1), null, ct);
                    if (check.Stdout.Split('\n').Select(GuestLine.Parse).OfType<MissingLine>().FirstOrDefault() is { } m)
                    {
                        throw new InvalidOperationException($"the network peer '{peer.Name}' lacks {m.Text.Split('|')[0]}: apt-get install {m.Text.Split('|')[1]}");
                    }

                    await peerTransport.RunAsync(service.Stop, TimeSpan.FromSeconds(30), null, ct);
                    var started = await peerTransport.RunAsync(service.Start, TimeSpan.FromSeconds(30), null, ct);
                    if (started.ExitCode != 0)
                    {
                        throw new InvalidOperationException($"cannot start the {service.Describe} on the network peer '{peer.Name}': {started.ErrorTail}");
                    }

                    shared = new SharedPeerService(peerTransport, service);
                    peerServices[service.Start] = shared;
                }

                // Experiments interleave: the service runs while any experiment that uses it is unfinished.
                shared.Users++;
                run.PeerService = shared;
            }

            var hosts = new List<HostDescription>();
            foreach (var (guest, index) in run.Guests.Select((g, i) => (g, i)))
            {
                var transport = run.Transport(index);
                await SetGuestStatusAsync(guest, GuestStatus.Preparing, run.Definition.Key);
                if (!described.TryGetValue(guest.Name, out var host))
                {
                    host = await EnvironmentProbe.DescribeAsync(guest.Name, guest.Platform, transport, ct);
                    described[guest.Name] = host;
                    await grains.GetGrain<IHostGrain>($"{testbed.Name}/{guest.Host}").Describe(host with { Name = guest.Host, Platform = Names.Of(testbed.HostOf(guest).Platform) });
                }

                hosts.Add(host);
                var check = await transport.RunAsync(GuestScripts.ToolCheck(def.Tools), TimeSpan.FromMinutes(1), null, ct);
                var missing = check.Stdout.Split('\n').Select(GuestLine.Parse).OfType<MissingLine>().Select(m => m.Text.Split('|')).ToList();
                if (missing.Count > 0)
                {
                    throw new InvalidOperationException(
                        $"guest '{guest.Name}' lacks {string.Join(", ", missing.Select(m => m[0]))}: install the Debian package(s) {string.Join(" ", missing.Select(m => m[1]).Distinct())} (apt-get install {string.Join(" ", missing.Select(m => m[1]).Distinct())})");
                }

                var workdir = run.Workdir(index);
                await transport.WriteFileAsync($"{workdir}/{GuestScripts.EnvironmentFile}", GuestScripts.GuestEnvironment(guest, index), ct);
                foreach (var (name, content) in run.Scripts.KitFiles)
                {
                    await transport.WriteFileAsync($"{workdir}/{name}", content, ct);
                }

                await transport.WriteFileAsync($"{workdir}/prepare.sh", GuestScripts.Prepare(workdir, run.Scripts.Prepare), ct);
                var prepared = await transport.RunAsync($"bash {GuestScripts.Quote(workdir + "/prepare.sh")}", options.PrepareTimeout, null, ct);
                if (prepared.ExitCode != 0)
                {
                    throw new InvalidOperationException($"prepare step of {def.Name} failed on '{guest.Name}' ({(prepared.TimedOut ? "timed out" : $"exit {prepared.ExitCode}")}): {prepared.ErrorTail}");
                }

                await SetGuestStatusAsync(guest, GuestStatus.Ready, run.Definition.Key);
            }

            run.Hosts = [.. hosts];
            run.Affinity = await PlaceAsync(run, ct);
            await run.Grain.SetEnvironment(EnvironmentJson(run));
            run.Prepared = true;
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or NotSupportedException)
        {
            await FinishAsync(run, ExperimentStatus.Failed, e.Message, ct);
            return false;
        }
    }

    private string EnvironmentJson(ExperimentRun run) => JsonSerializer.Serialize(new
    {
        controller = new
        {
            horizon = typeof(CampaignRunner).Assembly.GetName().Version?.ToString(),
            dotnet = Environment.Version.ToString(),
            os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            timestamps = timing.TimestampDescription,
        },
        testbed = new { name = testbed.Name, file = testbed.SourceFile },
        guests = run.Guests.Select((g, i) => new
        {
            name = g.Name,
            host = g.Host,
            platform = Names.Of(g.Platform),
            vcpus = g.Vcpus,
            transport = run.Transport(i).Description,
            cpu_model = run.Hosts[i].CpuModel,
            cpus = run.Hosts[i].Cpus,
            sockets = run.Hosts[i].Sockets,
            kernel = run.Hosts[i].Kernel,
            memory_bytes = run.Hosts[i].MemoryBytes,
            os = run.Hosts[i].Os,
            affinity = run.Affinity[i],
            placement = run.Placement.ElementAtOrDefault(i),
        }),
        host_control = run.HostControl,
        scheme = Names.Of(run.Plan.Scheme),
        workload = new { name = run.Plan.Workload.Name, parameters = run.Plan.Workload.Parameters },
        rounds = new { min = run.Plan.Rounds.Min, max = run.Plan.Rounds.Max, target = run.Plan.Rounds.TargetRelativeHalfWidth },
        round_timeout_s = run.Plan.RoundTimeout.TotalSeconds,
        probe_copies = run.Plan.ProbeCopies,
    });

    private async Task RunBlockAsync(ExperimentRun run, int first, int count, CancellationToken ct)
    {
        // A block that fails half-way (a guest unreachable after others started) must not leave the started guests
        // waiting at the barrier or running rounds nobody follows: cancelling the block kills their process groups.
        using var block = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var scripts = new List<Task<CommandResult>>();
        try
        {
            await RunBlockCoreAsync(run, first, count, scripts, block.Token);
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            await block.CancelAsync();
            try
            {
                await Task.WhenAll(scripts).WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
            }
            catch (Exception e) when (e is OperationCanceledException or TimeoutException or IOException or InvalidOperationException)
            {
                // Stopped (or unreachable): what matters is that nothing keeps running unobserved where it can be reached.
            }

            throw;
        }
    }

    private async Task RunBlockCoreAsync(ExperimentRun run, int first, int count, List<Task<CommandResult>> scripts, CancellationToken ct)
    {
        var key = ProbeFormat.NewKey();
        using var session = timing.Register(run.Definition.Id, key, run.Guests.Length, first, first + count, run.Plan.RoundTimeout, options.MissingProbeGrace);
        var lines = new ConcurrentDictionary<(int Guest, int Round), RoundLine>();
        var tails = new ConcurrentDictionary<(int Guest, int Round), string>();
        var outputs = new ConcurrentDictionary<(int Guest, int Round), string>();
        var reported = new ConcurrentDictionary<(int Guest, int Round), bool>();
        var stoppedAt = new ConcurrentDictionary<int, int>();
        var ready = new CountdownEvent(run.Guests.Length);
        var cpuMismatch = new ConcurrentBag<string>();
        var barrier = run.Guests.Length > 1;
        var address = testbed.ProbeAddress;
        var port = timing.LocalEndPoint.Port;

        // Experiments interleave on the same guests under different schemes: place (and verify) before every block.
        run.Affinity = await PlaceAsync(run, ct);
        for (var g = 0; g < run.Guests.Length; g++)
        {
            var guestIndex = g;
            var workdir = run.Workdir(g);
            var payloads = RoundBlock.Payloads(run.Definition.Id, (uint)g, first, count, run.Plan.ProbeCopies, key);
            var block = new RoundBlock(workdir, address, port, first, count, run.Plan.ProbeCopies, payloads, barrier);
            var transport = run.Transport(g);
            await transport.WriteFileAsync($"{workdir}/rounds.sh", GuestScripts.Rounds(block, run.Scripts!), ct);
            var affinity = run.Affinity[g];
            var command = affinity is null
                ? $"bash {GuestScripts.Quote(workdir + "/rounds.sh")}"
                : $"taskset -c {affinity} bash {GuestScripts.Quote(workdir + "/rounds.sh")}";
            var timeout = TimeSpan.FromTicks(run.Plan.RoundTimeout.Ticks * (count + 1)) + TimeSpan.FromMinutes(1);
            await SetGuestStatusAsync(run.Guests[g], GuestStatus.Running, run.Definition.Key);
            scripts.Add(DetachedRun.RunAsync(transport, workdir, command, timeout, line =>
            {
                switch (GuestLine.Parse(line))
                {
                    case BeginLine b when affinity is not null && !SameCpuList(b.Cpus, affinity):
                        cpuMismatch.Add($"guest '{run.Guests[guestIndex].Name}' runs on CPUs {b.Cpus}, the {Names.Of(run.Plan.Scheme)} scheme wants {affinity}");
                        break;
                    case ReadyLine:
                        ready.Signal();
                        break;
                    case RoundLine r:
                        lines[(guestIndex, r.Round)] = r;
                        reported[(guestIndex, r.Round)] = true;
                        session.GuestReported((uint)guestIndex, (uint)r.Round);
                        break;
                    case TailLine t:
                        tails[(guestIndex, t.Round)] = t.Text;
                        break;
                    case OutputLine o:
                        outputs[(guestIndex, o.Round)] = DecodeOutput(o.Base64);
                        break;
                    case BeforeFailedLine f:
                        reported[(guestIndex, f.Round)] = true;
                        session.Abandon((uint)guestIndex, (uint)f.Round, $"the untimed before-round step failed: {f.Text}");
                        break;
                    case StoppedLine s:
                        stoppedAt[guestIndex] = s.Round;
                        break;
                }
            }, progress.Message, ct));
        }

        if (barrier)
        {
            // Start barrier: every guest is prepared and waiting before any is released.
            await Task.Run(() => ready.Wait(TimeSpan.FromMinutes(5), ct), ct);

            // Released by one datagram per guest from the timing socket; the go file over SSH only for guests whose
            // ready probe never arrived (SSH release is slow under load: a shared core delays the last guest's sshd).
            await Task.Delay(TimeSpan.FromMilliseconds(20), ct);
            var released = session.Release();
            var late = Enumerable.Range(0, run.Guests.Length).Where(i => !released.Contains((uint)i)).ToList();
            if (late.Count > 0)
            {
                progress.Message($"start barrier: released {string.Join(", ", late.Select(i => run.Guests[i].Name))} over SSH (no ready probe arrived)");
            }

            await Task.WhenAll(late.Select(i => run.Transport(i).RunAsync($"touch {GuestScripts.Quote(run.Workdir(i) + "/go")}", TimeSpan.FromSeconds(30), null, ct)));

            // Every release datagram lost (or dropped by a firewall on the way back): after a few seconds without a first
            // start probe, the go file releases the guest anyway.
            _ = Task.Run(async () =>
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), ct);
                    var stuck = Enumerable.Range(0, run.Guests.Length).Where(i => !late.Contains(i) && !session.HasStarted((uint)i, (uint)first) && !session.IsConcluded((uint)i, (uint)first)).ToList();
                    if (stuck.Count > 0)
                    {
                        progress.Message($"start barrier: {string.Join(", ", stuck.Select(i => run.Guests[i].Name))} did not start 5 s after the release datagram; released over SSH");
                        await Task.WhenAll(stuck.Select(i => run.Transport(i).RunAsync($"touch {GuestScripts.Quote(run.Workdir(i) + "/go")}", TimeSpan.FromSeconds(30), null, ct)));
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or InvalidOperationException)
                {
                    // The block ended or the campaign stopped first: nothing left to release.
                }
            }, ct);
        }

        var allScripts = Task.WhenAll(scripts);
        var expected = run.Guests.Length * count;
        var concluded = 0;
        var stopRequested = false;
        while (concluded < expected)
        {
            var next = session.Results.ReadAsync(ct).AsTask();
            var finished = await Task.WhenAny(next, allScripts);
            if (finished == allScripts && !next.IsCompleted)
            {
                // Every guest script ended: rounds never reported were never run to the end.
                await ConcludeUnreported(run, session, scripts, reported, stoppedAt, first, count);
                await Task.Delay(options.MissingProbeGrace + TimeSpan.FromMilliseconds(200), ct);
                expected = run.Guests.Length * count - UnrunCount(stoppedAt, run.Guests.Length, first, count, reported);
                while (concluded < expected && session.Results.TryRead(out var late))
                {
                    concluded++;
                    stopRequested |= await RecordAsync(run, late, lines, tails, outputs, ct);
                }

                if (concluded < expected)
                {
                    var timing2 = await next.WaitAsync(options.MissingProbeGrace + TimeSpan.FromSeconds(5), ct);
                    concluded++;
                    stopRequested |= await RecordAsync(run, timing2, lines, tails, outputs, ct);
                }

                continue;
            }

            var result = await next;
            concluded++;
            var stop = await RecordAsync(run, result, lines, tails, outputs, ct);
            if (stop && !stopRequested)
            {
                stopRequested = true;
                for (var g = 0; g < run.Guests.Length; g++)
                {
                    await run.Transport(g).RunAsync($"touch {GuestScripts.Quote(run.Workdir(g) + "/stop")}", TimeSpan.FromSeconds(30), null, ct);
                }
            }

            if (!cpuMismatch.IsEmpty)
            {
                throw new InvalidOperationException($"CPU scheme read-back differs: {string.Join("; ", cpuMismatch)}");
            }
        }

        var results = await allScripts;
        if (!stoppedAt.IsEmpty)
        {
            await run.Grain.ReleaseRounds(stoppedAt.Values.Min());
        }

        var snapshot = await run.Grain.Snapshot();
        run.Snapshot = snapshot;
        if (stopRequested || snapshot.Measured >= run.Plan.Rounds.Max * run.Guests.Length || snapshot.NextRound >= run.Plan.Rounds.Max * 2)
        {
            // Done means the round policy was met; running out of attempts with fewer measured rounds is a failure.
            var needed = run.Plan.Rounds.Min * run.Guests.Length;
            var met = snapshot.Measured >= needed;
            await FinishAsync(run, met ? ExperimentStatus.Completed : ExperimentStatus.Failed,
                met ? null : snapshot.Measured == 0
                    ? $"no round was measured; last failure: {run.LastFailure}"
                    : $"only {snapshot.Measured} of {needed} rounds measured; last failure: {run.LastFailure}", ct);
        }
    }

    private static int UnrunCount(ConcurrentDictionary<int, int> stoppedAt, int guests, int first, int count, ConcurrentDictionary<(int, int), bool> reported)
    {
        var unrun = 0;
        for (var g = 0; g < guests; g++)
        {
            for (var r = first; r < first + count; r++)
            {
                if (!reported.ContainsKey((g, r)) && stoppedAt.TryGetValue(g, out var s) && r >= s)
                {
                    unrun++;
                }
            }
        }

        return unrun;
    }

    private static async Task ConcludeUnreported(
        ExperimentRun run, ExperimentTiming session, List<Task<CommandResult>> scripts,
        ConcurrentDictionary<(int Guest, int Round), bool> reported, ConcurrentDictionary<int, int> stoppedAt, int first, int count)
    {
        for (var g = 0; g < run.Guests.Length; g++)
        {
            var result = await scripts[g];
            for (var r = first; r < first + count; r++)
            {
                if (reported.ContainsKey((g, r)) || (stoppedAt.TryGetValue(g, out var s) && r >= s))
                {
                    continue;
                }

                var why = result.TimedOut
                    ? "the guest script was killed after its time limit"
                    : $"the guest script ended (exit {result.ExitCode}) before reporting this round: {result.ErrorTail}";
                session.Abandon((uint)g, (uint)r, why);
            }
        }
    }

    private static string DecodeOutput(string base64)
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

    private async Task<bool> RecordAsync(
        ExperimentRun run, RoundTiming t, ConcurrentDictionary<(int Guest, int Round), RoundLine> lines, ConcurrentDictionary<(int Guest, int Round), string> tails,
        ConcurrentDictionary<(int Guest, int Round), string> outputs, CancellationToken ct)
    {
        var g = (int)t.Guest;
        var r = (int)t.Round;
        // The guest prints its line right after its end probes; give the pipe a moment.
        for (var i = 0; i < 40 && !lines.ContainsKey((g, r)) && t.Status == RoundTimingStatus.Measured; i++)
        {
            await Task.Delay(25, ct);
        }

        lines.TryGetValue((g, r), out var line);
        tails.TryGetValue((g, r), out var tail);
        var outcome = t.Status == RoundTimingStatus.Measured && (line is null || line.ExitCode == 0) ? RoundOutcome.Measured : RoundOutcome.Failed;
        var reason = t.Reason;
        if (line is { ExitCode: not 0 })
        {
            reason = $"workload exited with status {line.ExitCode}{(tail is { Length: > 0 } ? $": {tail}" : "")}";
        }
        else if (line is null && t.Status == RoundTimingStatus.Measured)
        {
            reason = "measured; the guest's own report did not arrive";
        }

        ImmutableDictionary<string, double>? metrics = null;
        // The scripts say whether this experiment's guests send their output back (a command with regex metrics does).
        var reports = run.Scripts?.ReportOutput == true;
        if (reports && run.Workload is { } workload && outcome == RoundOutcome.Measured)
        {
            try
            {
                metrics = outputs.TryGetValue((g, r), out var text) && text.Length > 0
                    ? workload.ParseOutput(run.Plan.Workload, text).ToImmutableDictionary()
                    : throw new FormatException("the guest sent no output for this round");
            }
            catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException)
            {
                outcome = RoundOutcome.Failed;
                reason = $"round output unusable: {e.Message}";
            }
        }
        else if (reports && line is { ExitCode: not 0 } && outputs.TryGetValue((g, r), out var failedText))
        {
            reason += $" ({CommandResult.Tail(failedText, 2)})";
        }

        if (t.StartArrivalNs is { } startNs)
        {
            // The start probe's arrival on the controller's monotonic clock: the spread across guests of a block's first
            // round is the start skew of concurrent guests (reports compute it per block).
            metrics = (metrics ?? ImmutableDictionary<string, double>.Empty).SetItem(StartMetric, startNs / 1e9);
        }

        var record = new RoundRecord(run.Definition.Id, g, run.Guests[g].Name, r, outcome, t.Seconds, line?.GuestSeconds, line?.GuestStart, line?.ExitCode, reason,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), metrics);
        var decision = await run.Grain.Record(record);
        if (outcome == RoundOutcome.Failed)
        {
            run.LastFailure = reason;
        }

        run.Snapshot = decision.Snapshot;
        SchedulerMetrics.RoundRecorded(run.Definition, record, decision.Snapshot, Names.Of(run.Guests[g].Platform));
        progress.RoundRecorded(run.Definition, record, decision.Snapshot);
        return decision.Stop;
    }

    private async Task SetGuestStatusAsync(GuestSpec guest, GuestStatus status, string? detail)
    {
        SchedulerMetrics.GuestState(testbed.Name, guest.Name, guest.Host, Names.Of(guest.Platform), status);
        await grains.GetGrain<IGuestGrain>($"{testbed.Name}/{guest.Name}").SetStatus(status, detail);
    }

    private async Task FinishAsync(ExperimentRun run, ExperimentStatus status, string? note, CancellationToken ct)
    {
        run.Done = true;
        run.FinalStatus = status;
        run.Note = note;
        await run.Grain.Complete(status, note);
        run.Snapshot = await run.Grain.Snapshot();
        for (var g = 0; g < run.Guests.Length; g++)
        {
            await SetGuestStatusAsync(run.Guests[g], status == ExperimentStatus.Failed ? GuestStatus.Failed : GuestStatus.Idle, note);
            if (run.Scripts is not null && run.Prepared)
            {
                try
                {
                    var workdir = run.Workdir(g);
                    await run.Transport(g).RunAsync(GuestScripts.Cleanup(workdir, run.Scripts.Cleanup), TimeSpan.FromMinutes(5), null, ct);
                }
                catch (Exception e) when (e is InvalidOperationException or IOException)
                {
                    progress.Message($"cleanup on {run.Guests[g].Name} failed: {e.Message}");
                }
            }
        }

        if (run.PeerService is { } peerService && --peerService.Users == 0)
        {
            peerServices.Remove(peerService.Service.Start);
            try
            {
                await peerService.Transport.RunAsync(peerService.Service.Stop, TimeSpan.FromSeconds(30), null, CancellationToken.None);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                progress.Message($"stopping the {peerService.Service.Describe} on the peer failed: {e.Message}");
            }

            await peerService.Transport.DisposeAsync();
        }

        run.PeerService = null;
        SchedulerMetrics.ExperimentFinished(run.Definition, run.Snapshot);
        progress.ExperimentFinished(run.Definition, status, note, run.Snapshot);
    }

    private static bool SameCpuList(string actual, string expected) => Expand(actual).SetEquals(Expand(expected));

    private static HashSet<int> Expand(string list)
    {
        var set = new HashSet<int>();
        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-');
            if (int.TryParse(range[0], out var a))
            {
                var b = range.Length > 1 && int.TryParse(range[1], out var x) ? x : a;
                for (var i = a; i <= b; i++)
                {
                    set.Add(i);
                }
            }
        }

        return set;
    }

    private sealed class SharedPeerService(IGuestTransport transport, PeerService service)
    {
        public IGuestTransport Transport { get; } = transport;

        public PeerService Service { get; } = service;

        public int Users { get; set; }
    }

    private sealed class ExperimentRun(ExperimentPlan plan, ExperimentDefinition definition, IExperimentGrain grain, ImmutableArray<GuestSpec> guests, ExperimentSnapshot snapshot)
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

        public SharedPeerService? PeerService { get; set; }

        public IReadOnlyList<string?> Affinity { get; set; } = [];

        /// <summary>Per guest: the scheme's plan and what the platform read back ("native" guests: pinned in the guest).</summary>
        public IReadOnlyList<object?> Placement { get; set; } = [];

        public IReadOnlyDictionary<string, object?> HostControl { get; set; } = new Dictionary<string, object?>();

        public ImmutableArray<HostDescription> Hosts { get; set; } = [];

        public string Workdir(int guest) => $"{Guests[guest].Workdir.TrimEnd('/')}/{Definition.Id:N}";

        public Func<GuestSpec, IGuestTransport> Sessions { get; set; } = Transports.For;

        /// <summary>The guest's session, shared by every experiment of the campaign.</summary>
        public IGuestTransport Transport(int guest) => Sessions(Guests[guest]);
    }
}
