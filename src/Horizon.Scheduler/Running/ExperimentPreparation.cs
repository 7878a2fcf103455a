using Horizon.Config;
using Horizon.Grains;
using Horizon.Scripts;
using Horizon.Workloads;

namespace Horizon.Scheduler.Running;

/// <summary>
/// Makes an experiment ready to run its first block: builds the workload's scripts, starts the peer's service, and on
/// every guest describes the host (once per campaign), checks the workload's tools, uploads the kit and runs the
/// untimed prepare step; then places the CPUs and records the environment. Throws with the reason when a step fails.
/// </summary>
internal sealed class ExperimentPreparation(
    IGrainFactory grains, Testbed testbed, RunnerOptions options, GuestStates states, PeerServices peers, CpuPlacement placement, string timestamps)
{
    private readonly Dictionary<string, HostDescription> described = [];

    public async Task PrepareAsync(ExperimentRun run, CancellationToken ct)
    {
        var def = WorkloadCatalog.Get(run.Plan.Workload.Name);
        run.Workload = def;
        var context = new WorkloadContext(testbed.Peer?.DataAddress, run.Guests.Length);
        run.Scripts = def.Build(run.Plan.Workload, context);
        foreach (var service in def.PeerServices(run.Plan.Workload, context))
        {
            run.PeerServices.Add(await peers.AcquireAsync(def, service, ct));
        }

        var hosts = new List<HostDescription>();
        foreach (var (guest, index) in run.Guests.Select((g, i) => (g, i)))
        {
            hosts.Add(await PrepareGuestAsync(run, def, guest, index, ct));
        }

        run.Hosts = [.. hosts];
        run.Placement = await placement.PlaceAsync(run, ct);
        await run.Grain.SetEnvironment(EnvironmentRecord.Json(run, testbed, timestamps, options.Agent));
        run.Prepared = true;
    }

    private async Task<HostDescription> PrepareGuestAsync(ExperimentRun run, WorkloadDefinition def, GuestSpec guest, int index, CancellationToken ct)
    {
        var transport = run.Transport(index);
        await states.SetAsync(guest, GuestStatus.Preparing, run.Definition.Key);
        if (!described.TryGetValue(guest.Name, out var host))
        {
            host = await EnvironmentProbe.DescribeAsync(guest.Name, guest.Platform, transport, ct);
            described[guest.Name] = host;
            await grains.GetGrain<IHostGrain>($"{testbed.Name}/{guest.Host}").Describe(host with { Name = guest.Host, Platform = Names.Of(testbed.HostOf(guest).Platform) });
        }

        var check = def.Tools.IsEmpty ? new CommandResult(0, "", "", false) : await transport.RunAsync(GuestScripts.ToolCheck(def.Tools), TimeSpan.FromMinutes(1), null, ct);
        var missing = check.Stdout.Split('\n').Select(GuestLine.Parse).OfType<MissingLine>().Select(m => m.Text.Split('|')).ToList();
        if (missing.Count > 0)
        {
            var packages = string.Join(" ", missing.Select(m => m[1]).Distinct());
            throw new TestbedException(
                $"guest '{guest.Name}' lacks {string.Join(", ", missing.Select(m => m[0]))}: install the Debian package(s) {packages} (apt-get install {packages})");
        }

        var workdir = run.Workdir(index);
        await transport.WriteFileAsync($"{workdir}/{GuestScripts.EnvironmentFile}", GuestScripts.GuestEnvironment(guest, index), ct);
        foreach (var (name, content) in run.Scripts!.KitFiles)
        {
            await transport.WriteFileAsync($"{workdir}/{name}", content, ct);
        }

        await transport.WriteFileAsync($"{workdir}/prepare.sh", GuestScripts.Prepare(workdir, run.Scripts.Prepare), ct);
        var prepared = await transport.RunAsync($"bash {GuestScripts.Quote(workdir + "/prepare.sh")}", options.PrepareTimeout, null, ct);
        if (prepared.ExitCode != 0)
        {
            throw new TestbedException($"prepare step of {def.Name} failed on '{guest.Name}' ({(prepared.TimedOut ? "timed out" : $"exit {prepared.ExitCode}")}): {prepared.ErrorTail}");
        }

        await states.SetAsync(guest, GuestStatus.Ready, run.Definition.Key);
        return host;
    }
}
