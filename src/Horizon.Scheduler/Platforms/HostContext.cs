using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>A host as an adapter sees it: where its commands run and what CPUs it has.</summary>
public sealed record HostContext(TestHost Host, IGuestTransport Transport, HostTopology Topology)
{
    /// <summary>Runs a platform command on the host; a non-zero exit becomes an error that quotes the tool.</summary>
    public async Task<string> Must(string command, CancellationToken ct)
    {
        var r = await Transport.RunAsync(command, TimeSpan.FromSeconds(60), null, ct);
        if (r.ExitCode != 0)
        {
            throw new TestbedException($"on host '{Host.Name}': `{command}` failed ({(r.TimedOut ? "timed out" : $"exit {r.ExitCode}")}): {r.ErrorTail}");
        }

        return r.Stdout;
    }
}
