using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Horizon.Aspire.Tests;

/// <summary>
/// The distributed mode started by hand, as on several machines: a real redis-server, controller silos and a scheduler
/// service as separate processes (the built programs), each on free ports. Everything it starts it stops, by pid.
/// </summary>
public sealed class ClusterProcesses : IAsyncDisposable
{
    private readonly List<(string Name, Process Process)> processes = [];
    private readonly string logs = Directory.CreateTempSubdirectory("horizon-cluster-").FullName;
    private readonly string cluster = $"test-{Guid.NewGuid():N}";

    public int RedisPort { get; } = FreePort();

    public int ProbePort { get; } = FreeUdpPort();

    public List<(int Pid, int HttpPort)> Controllers { get; } = [];

    public int SchedulerHttpPort { get; private set; }

    /// <summary>Agents started with <see cref="StartAgentAsync"/>: id → pid and HTTP port.</summary>
    public Dictionary<string, (int Pid, int HttpPort)> Agents { get; } = [];

    public static Task<ClusterProcesses> StartAsync(int controllers, CancellationToken ct) => StartAsync(controllers, true, null, ct);

    /// <summary>Redis, the controller silos and (when <paramref name="scheduler"/>) one agent that serves any host.</summary>
    public static async Task<ClusterProcesses> StartAsync(int controllers, bool scheduler, Dictionary<string, string>? controllerSettings, CancellationToken ct)
    {
        var c = new ClusterProcesses();
        try
        {
            c.Start("redis", "redis-server", ["--bind", "127.0.0.1", "--port", c.RedisPort.ToString(), "--save", "", "--appendonly", "no"], []);
            await WaitAsync(() => TcpAnswers(c.RedisPort), "redis-server", ct);
            for (var i = 0; i < controllers; i++)
            {
                var http = FreePort();
                var pid = c.Start($"controller-{i}", "dotnet", [Program("Horizon.ControllerSilo")], new Dictionary<string, string>
                {
                    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{http}",
                    ["Orleans__Endpoints__SiloPort"] = FreePort().ToString(),
                    ["Orleans__Endpoints__GatewayPort"] = FreePort().ToString(),
                    ["Orleans__Endpoints__AdvertisedIPAddress"] = "127.0.0.1",
                }.Concat(controllerSettings ?? []).ToDictionary());
                c.Controllers.Add((pid, http));
            }

            if (scheduler)
            {
                c.SchedulerHttpPort = FreePort();
                c.Start("scheduler", "dotnet", [Program("Horizon.SchedulerService")], new()
                {
                    ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{c.SchedulerHttpPort}",
                    ["Horizon__ProbePort"] = c.ProbePort.ToString(),
                    ["Horizon__WorkerId"] = "test-scheduler",
                });
            }

            foreach (var port in c.Controllers.Select(x => x.HttpPort).Concat(scheduler ? [c.SchedulerHttpPort] : []))
            {
                await Healthy(port, ct);
            }

            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts an agent (scheduler service) serving the given testbed files, as on another test computer; waits until it is healthy.</summary>
    public async Task<int> StartAgentAsync(string id, string testbeds, CancellationToken ct)
    {
        var http = FreePort();
        var pid = Start($"{id}-{Agents.Count(a => a.Key == id) + processes.Count}", "dotnet", [Program("Horizon.SchedulerService")], new()
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{http}",
            ["Horizon__AgentId"] = id,
            ["Horizon__Testbeds"] = testbeds,
            ["Horizon__ProbePort"] = FreeUdpPort().ToString(),
            ["Horizon__ReachabilityEvery"] = "00:00:05",
        });
        Agents[id] = (pid, http);
        await Healthy(http, ct);
        return pid;
    }

    private static Task Healthy(int port, CancellationToken ct) => WaitAsync(async () =>
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return await http.GetStringAsync($"http://127.0.0.1:{port}/health", ct) == "Healthy";
    }, $"service on port {port} healthy", ct);

    public HttpClient Client(int controller) => new() { BaseAddress = new Uri($"http://127.0.0.1:{Controllers[controller].HttpPort}"), Timeout = TimeSpan.FromSeconds(20) };

    public void Kill(int pid)
    {
        var p = processes.Single(x => x.Process.Id == pid).Process;
        p.Kill(entireProcessTree: true);
        p.WaitForExit(10_000);
    }

    public string Logs() => string.Join("\n", processes.Select(p =>
    {
        var file = Path.Combine(logs, p.Name + ".log");
        return $"--- {p.Name} (pid {p.Process.Id}) ---\n" + (File.Exists(file) ? string.Join("\n", File.ReadLines(file).TakeLast(40)) : "");
    }));

    private int Start(string name, string file, string[] args, Dictionary<string, string> env)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["ConnectionStrings__redis"] = $"127.0.0.1:{RedisPort}";
        start.Environment["Orleans__ClusterId"] = cluster;
        start.Environment["Orleans__ServiceId"] = cluster;
        start.Environment["Orleans__Clustering__ProviderType"] = "Redis";
        start.Environment["Orleans__Clustering__ServiceKey"] = "redis";
        start.Environment["Logging__LogLevel__Default"] = "Warning";
        foreach (var (k, v) in env)
        {
            start.Environment[k] = v;
        }

        var p = Process.Start(start)!;
        var log = new StreamWriter(Path.Combine(logs, name + ".log")) { AutoFlush = true };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        processes.Add((name, p));
        return p.Id;
    }

    private static string Program(string name)
    {
        // The test runs from artifacts/bin/Horizon.Aspire.Tests/<configuration>/: the services sit beside it.
        var configuration = Path.GetFileName(AppContext.BaseDirectory.TrimEnd('/'));
        var dll = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", name, configuration, name + ".dll"));
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{name} is not built (expected {dll})");
    }

    private static async Task WaitAsync(Func<Task<bool>> ready, string what, CancellationToken ct)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        while (DateTime.UtcNow < until)
        {
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException)
            {
            }

            await Task.Delay(250, ct);
        }

        throw new TimeoutException($"{what}: not ready after 180 s");
    }

    private static Task<bool> TcpAnswers(int port)
    {
        using var tcp = new TcpClient();
        tcp.Connect(IPAddress.Loopback, port);
        return Task.FromResult(true);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static int FreeUdpPort()
    {
        using var u = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)u.Client.LocalEndPoint!).Port;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, p) in Enumerable.Reverse(processes))
        {
            try
            {
                if (!p.HasExited)
                {
                    // SIGTERM first (a clean silo leaves the membership table); then kill what is left.
                    Process.Start("kill", ["-TERM", p.Id.ToString()])?.WaitForExit();
                }
            }
            catch (InvalidOperationException)
            {
            }
        }

        foreach (var (_, p) in processes)
        {
            try
            {
                if (!p.WaitForExit(15_000))
                {
                    p.Kill(entireProcessTree: true);
                }
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }

        await Task.CompletedTask;
        try
        {
            Directory.Delete(logs, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
