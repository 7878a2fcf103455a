using Horizon.Results;
using Horizon.Timing;

namespace Horizon.Scheduler.Running;

/// <summary>Records a concluded round: waits briefly for the guest's line, assembles the record, stores it, tells the observers.</summary>
internal sealed class RoundRecorder(RunObserver observer)
{
    /// <summary>Returns whether the round policy says the experiment has enough rounds.</summary>
    public async Task<bool> RecordAsync(ExperimentRun run, RoundTiming timing, GuestReports reports, CancellationToken ct)
    {
        var key = new GuestRound((int)timing.Guest, (int)timing.Round);
        // The guest prints its line right after its end probes; give the pipe a moment.
        if (timing.Status == RoundOutcome.Measured)
        {
            await reports.WaitForLineAsync(key, TimeSpan.FromSeconds(1), ct);
        }

        var report = reports.ReportOf(key);
        // The scripts say whether this experiment's guests send their output back (a command with regex metrics does).
        var record = RoundAssembler.Assemble(
            run.Definition, run.Guests[key.Guest].Name, timing, report.Line, report.Tail, report.Output,
            run.Workload, run.Plan.Workload, run.Scripts?.ReportOutput == true, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var decision = await run.Grain.Record(record);
        if (record.Outcome == RoundOutcome.Failed)
        {
            run.LastFailure = record.Reason;
        }

        run.Snapshot = decision.Snapshot;
        observer.RoundRecorded(run.Definition, record, decision.Snapshot, run.Guests[key.Guest].Platform);
        return decision.Stop;
    }
}
