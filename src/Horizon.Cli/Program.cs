using Horizon.Cli;
using Spectre.Console.Cli;

Render.ConfigureConsole();
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("horizon");
    config.SetApplicationVersion(Render.Version);
    if (Environment.GetEnvironmentVariable("HORIZON_DEBUG") is "1")
    {
        // Full stack traces instead of one-line errors.
        config.PropagateExceptions();
    }
    else
    {
        config.SetExceptionHandler((e, _) => e switch
        {
            // Problems of the user's files and store: their messages name the file and what to do.
            Horizon.Grains.StoreException or Horizon.Config.ConfigException => Render.Error(e.Message),
            _ => Render.Crash(e),
        });
    }

    config.AddCommand<RunCommand>("run").WithDescription("Run a campaign (default: the quick preset on this machine) and print the results table.");
    config.AddCommand<ServeCommand>("serve").WithDescription("Run the controller with its HTTP API (loopback by default; a token is required elsewhere).");
    config.AddCommand<ResultsCommand>("results").WithDescription("Print a campaign's results: platform × workload, mean ± 95% CI, ratio to native.");
    config.AddCommand<CompareCommand>("compare").WithDescription("Is run B different from run A? Per experiment B/A with its 95% CI, Welch's t or Mann-Whitney U, the smallest detectable change, a verdict; exit 1 on a regression.");
    config.AddCommand<ReportCommand>("report").WithDescription("Write the HTML report: tables, the study's figures (SVG and PNG), scaling and fairness, exports.");
    config.AddCommand<ExportCommand>("export").WithDescription("Write a campaign's results as CSV and JSON, raw rounds and environment included.");
    config.AddCommand<AgentsCommand>("agents").WithDescription("The cluster's agents, one per test computer: alive or silent, the hosts each serves, what each runs.");
    config.AddCommand<TestbedsCommand>("testbeds").WithDescription("The testbeds a controller knows, or one testbed's hosts and guests, live: agent, reachability, placement, state.");
    config.AddBranch("testbed", testbed =>
    {
        testbed.SetDescription("Testbed files.");
        testbed.AddCommand<TestbedCheckCommand>("check").WithDescription("Validate a testbed (and campaign) file and reach every guest.");
    });
    config.AddBranch("lab", lab =>
    {
        lab.SetDescription("Test hosts and a network peer on this machine, as network namespaces with their own sshd.");
        lab.AddCommand<LabUpCommand>("up").WithDescription("Create the lab and write its testbed file.");
        lab.AddCommand<LabDownCommand>("down").WithDescription("Remove everything the lab created (also after a crash).");
        lab.AddCommand<LabStatusCommand>("status").WithDescription("Show the lab's machines and processes.");
    });
    config.AddBranch("bench", bench =>
    {
        bench.SetDescription("Benchmarks of Horizon's own measurement path.");
        bench.AddCommand<BenchProbesCommand>("probes").WithDescription("Probe timestamp delay (idle and loaded) and the lossless authenticated-probe rate.");
        bench.AddCommand<BenchGeneratorCommand>("generator").WithDescription("The forward workload's traffic generator with no guest in between: its ceiling per frame size, next to iperf3.");
        bench.AddCommand<BenchOverheadCommand>("overhead").WithDescription("What the harness costs per round: campaign wall time against the sum of its rounds (0.05, 0.5, 5 s), locally and over SSH, next to hyperfine.");
        bench.AddCommand<BenchScaleCommand>("scale").WithDescription("N simulated guests' probes through timing into the grains: loss, arrival-to-recorded delay, memory per guest.");
    });
});
return await app.RunAsync(args);
