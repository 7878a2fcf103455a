using System.Collections.Immutable;
using System.Net;
using Horizon.Config;
using Horizon.Grains;
using Horizon.Results;
using Horizon.Scheduler;


namespace Horizon.EndToEnd.Tests;

/// <summary>A scratch results store and an embedded controller (real silo, SQLite store, UDP timing service).</summary>
public sealed class Lab : IAsyncDisposable
{
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The `faketime` wrapper leaves a shared-memory file and a named semaphore per process in /dev/shm, and fails outright
    /// when one left by an earlier process with the same pid exists; this removes the ones created while it was alive.
    /// </summary>
    public static IDisposable FaketimeLeftovers() => new ShmCleanup();

    private sealed class ShmCleanup : IDisposable
    {
        private readonly HashSet<string> before = [.. Leftovers()];

        public void Dispose()
        {
            foreach (var f in Leftovers().Where(f => !before.Contains(f)))
            {
                File.Delete(f);
            }
        }

        private static IEnumerable<string> Leftovers() =>
            System.IO.Directory.GetFiles("/dev/shm", "faketime_*").Concat(System.IO.Directory.GetFiles("/dev/shm", "sem.faketime_*"));
    }

    private readonly string? probeNamespace;
    private readonly string probeAddress;

    private Lab(string dir, string? probeNamespace, string probeAddress)
    {
        Directory = dir;
        this.probeNamespace = probeNamespace;
        this.probeAddress = probeAddress;
    }

    public string Directory { get; }

    public string Database => Path.Combine(Directory, "horizon.db");

    public EmbeddedController? Controller { get; private set; }

    public static async Task<Lab> StartAsync(string? probeNamespace = null, string probeAddress = "127.0.0.1")
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-test-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        var lab = new Lab(dir, probeNamespace, probeAddress);
        await lab.RestartAsync();
        return lab;
    }

    public async Task RestartAsync()
    {
        if (Controller is not null)
        {
            await Controller.DisposeAsync();
        }

        Controller = await EmbeddedController.StartAsync(Database, new IPEndPoint(IPAddress.Parse(probeAddress), 0), false, probeNamespace).WaitAsync(Limit);
    }

    public static Testbed LocalTestbed(string extraGuestLines = "", bool withPeer = false) => TestbedFile.Parse("test-testbed.yaml", $"""
        testbed: test
        hosts:
          - name: localhost
            platform: native
        guests:
          - name: native
            host: localhost
            vcpus: 1
            workdir: /var/tmp/horizon-tests
        {extraGuestLines}
        {(withPeer ? "peer: { name: peer, address: 127.0.0.1 }" : "")}
        """);

    public Task<(CampaignOutcome Outcome, ImmutableArray<ExperimentResult> Results)> RunAsync(string campaignYaml, Testbed? testbed = null, TimeSpan? limit = null) =>
        RunUntilAsync(campaignYaml, TestContext.Current.CancellationToken, null, testbed, limit);

    public async Task<(CampaignOutcome Outcome, ImmutableArray<ExperimentResult> Results)> RunUntilAsync(
        string campaignYaml, CancellationToken ct, IRunProgress? progress = null, Testbed? testbed = null, TimeSpan? limit = null)
    {
        testbed ??= LocalTestbed();
        var campaign = CampaignFile.Parse("test-campaign.yaml", campaignYaml, testbed);
        var runner = new CampaignRunner(Controller!.Grains, Controller.Timing, testbed, progress);
        var outcome = await runner.RunAsync(campaign, ct).WaitAsync(limit ?? Limit, ct);
        return (outcome, Controller.Store.Experiments(campaign.Name));
    }

    public async ValueTask DisposeAsync()
    {
        if (Controller is not null)
        {
            await Controller.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Progress that cancels a run after a number of recorded rounds (to simulate an interrupted controller).</summary>
public sealed class CancelAfter(int rounds, CancellationTokenSource cts) : IRunProgress
{
    private int seen;

    public void RoundRecorded(ExperimentDefinition definition, RoundRecord round, ExperimentSnapshot snapshot)
    {
        if (Interlocked.Increment(ref seen) == rounds)
        {
            cts.Cancel();
        }
    }
}
