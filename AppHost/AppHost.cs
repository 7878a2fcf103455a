using System.Net.Sockets;
using Horizon.AppHost;

// Horizon's distributed stack. Everything runs as a local process (no container runtime needed): Debian's redis-server
// and prometheus, the controller silos, the agents (scheduler services). Settings (command line or environment, e.g.
// Horizon__Controllers=3): Horizon:Controllers (2), Horizon:Agents (1), Horizon:AgentTestbeds:i, Horizon:RedisPort (6399), Horizon:PrometheusPort (9090),
// Horizon:ProbePort (7300), Horizon:ApiPort (5080), Horizon:GrafanaPort (3000), Horizon:DataDirectory (.horizon/aspire).
var builder = DistributedApplication.CreateBuilder(args);
var settings = builder.Configuration.GetSection("Horizon");
var root = Topology.RepositoryRoot();
// Redis' append-only file, Prometheus' database and the generated scrape file live here (Horizon:DataDirectory).
var data = Directory.CreateDirectory(settings["DataDirectory"] ?? Path.Combine(root, ".horizon", "aspire")).FullName;

// Redis: the cluster's membership table, every grain's state, every recorded round.
var redisServer = builder.AddExecutable("redis-server", "redis-server", data,
        "--bind", "127.0.0.1", "--port", settings["RedisPort"] ?? "6399", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        "--appenddirname", "redis-aof", "--dir", data)
    .WithEndpoint("tcp", e =>
    {
        e.Port = int.Parse(settings["RedisPort"] ?? "6399");
        e.TargetPort = e.Port;
        e.IsProxied = false;
        e.UriScheme = "tcp";
    });
var redis = builder.AddConnectionString("redis",
    ReferenceExpression.Create($"{redisServer.GetEndpoint("tcp").Property(EndpointProperty.HostAndPort)}"));

// The Orleans cluster: membership in Redis. Silos advertise loopback (this machine); set
// Orleans__Endpoints__AdvertisedIPAddress on each to spread silos over machines.
var cluster = builder.AddOrleans("cluster").WithClustering(redis);
// A fixed cluster id (Horizon:ClusterId) lets an agent on another test computer join this cluster with
// Orleans__ClusterId and Orleans__ServiceId set to it (README, "Agents"); by default Aspire picks one per run.
if (settings["ClusterId"] is { Length: > 0 } clusterId)
{
    cluster = cluster.WithClusterId(clusterId).WithServiceId(clusterId);
}

// Controller silos: the grains (hosts, guests, experiments, the campaign desk) and the HTTP API.
// The API of controller-i answers on port Horizon:ApiPort + i (5080, 5081, ...): `horizon run --controller http://localhost:5080`.
var apiPort = int.Parse(settings["ApiPort"] ?? "5080");
var controllers = new List<IResourceBuilder<ProjectResource>>();
for (var i = 0; i < int.Parse(settings["Controllers"] ?? "2"); i++)
{
    controllers.Add(builder.AddProject<Projects.Horizon_ControllerSilo>($"controller-{i}")
        .WithReference(cluster)
        .WithReference(redis)
        .WaitFor(redisServer)
        .WithEnvironment("Orleans__Clustering__ProviderType", "Redis")
        .WithEnvironment("Orleans__Endpoints__AdvertisedIPAddress", "127.0.0.1")
        .WithHttpEndpoint(port: apiPort + i, name: "http")
        .WithHttpHealthCheck("/health"));
}

// The agents (scheduler services), one per test computer: each claims the experiments on the hosts it serves, holds
// their SSH sessions and runs the workloads. The timing socket lives in the agent too — guests are released by a
// datagram from the same socket that timestamps their probes — on a fixed UDP port that is not proxied (a proxy would
// add its own delay to every probe). Horizon:Agents (default 1) agents, agent-i on probe port Horizon:ProbePort + i,
// serving the testbed files Horizon:AgentTestbeds:i (';'-separated; none: any host — e.g. labs standing in for test
// computers: Horizon__AgentTestbeds__0=.horizon/lab/a/testbed.yaml Horizon__AgentTestbeds__1=.horizon/lab/b/testbed.yaml).
var probePort = int.Parse(settings["ProbePort"] ?? "7300");
var agents = new List<IResourceBuilder<ProjectResource>>();
for (var i = 0; i < int.Parse(settings["Agents"] ?? "1"); i++)
{
    var port = probePort + i;
    var agent = builder.AddProject<Projects.Horizon_SchedulerService>($"agent-{i}")
        .WithReference(cluster.AsClient())
        .WithReference(redis)
        .WaitFor(controllers[0])
        .WithEnvironment("Orleans__Clustering__ProviderType", "Redis")
        .WithEndpoint("probes", e =>
        {
            e.Protocol = ProtocolType.Udp;
            e.UriScheme = "udp";
            e.Port = port;
            e.TargetPort = port;
            e.IsProxied = false;
        })
        .WithEnvironment("Horizon__AgentId", "agent-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithEnvironment("Horizon__ProbePort", port.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithHttpEndpoint(name: "http")
        .WithHttpHealthCheck("/health");
    if (settings.GetSection("AgentTestbeds")[i.ToString(System.Globalization.CultureInfo.InvariantCulture)] is { Length: > 0 } testbeds)
    {
        agent.WithEnvironment("Horizon__Testbeds", string.Join(';', testbeds.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(f => Path.GetFullPath(f, root))));
    }

    agents.Add(agent);
}

// Prometheus scrapes every service's /metrics at the ports Aspire allocated (written just before it starts).
var prometheusPort = int.Parse(settings["PrometheusPort"] ?? "9090");
var prometheusConfig = Path.Combine(data, "prometheus.yml");
var prometheus = builder.AddExecutable("prometheus", "prometheus", data,
        $"--config.file={prometheusConfig}", $"--web.listen-address=127.0.0.1:{prometheusPort}",
        $"--storage.tsdb.path={Path.Combine(data, "prometheus")}", "--storage.tsdb.retention.time=7d")
    .WithHttpEndpoint(port: prometheusPort, targetPort: prometheusPort, name: "http", isProxied: false)
    .WithHttpHealthCheck("/-/ready")
    .WaitFor(agents[0]);
builder.Eventing.Subscribe<BeforeResourceStartedEvent>(prometheus.Resource, (_, ct) => Topology.WritePrometheusConfigAsync(prometheusConfig,
    [.. controllers.Select(c => (c.Resource.Name, c.GetEndpoint("http"))), .. agents.Select(a => (a.Resource.Name, a.GetEndpoint("http")))], ct));

// Grafana with the repository's provisioning (datasource uid "prometheus", the dashboards in dashboards/), where it can run.
var dashboards = Path.Combine(root, "dashboards");
var grafanaPort = int.Parse(settings["GrafanaPort"] ?? "3000");
var prometheusUrl = $"http://127.0.0.1:{prometheusPort}";
if (Topology.GrafanaServer() is { } grafanaServer)
{
    var home = Path.GetDirectoryName(Path.GetDirectoryName(grafanaServer))!;
    builder.AddExecutable("grafana", grafanaServer, data, "--homepath", Directory.Exists(Path.Combine(home, "share", "grafana")) ? Path.Combine(home, "share", "grafana") : "/usr/share/grafana")
        .WithEnvironment("GF_PATHS_PROVISIONING", Path.Combine(dashboards, "provisioning"))
        .WithEnvironment("GF_PATHS_DATA", Path.Combine(data, "grafana"))
        .WithEnvironment("HORIZON_DASHBOARDS", dashboards)
        .WithEnvironment("PROMETHEUS_URL", prometheusUrl)
        .WithEnvironment("GF_SERVER_HTTP_PORT", grafanaPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithHttpEndpoint(port: grafanaPort, targetPort: grafanaPort, isProxied: false)
        .WaitFor(prometheus);
}
else if (Topology.ContainerRuntimeHealthy())
{
    builder.AddContainer("grafana", "grafana/grafana")
        .WithBindMount(Path.Combine(dashboards, "provisioning"), "/etc/grafana/provisioning", isReadOnly: true)
        .WithBindMount(dashboards, "/var/lib/horizon-dashboards", isReadOnly: true)
        .WithEnvironment("HORIZON_DASHBOARDS", "/var/lib/horizon-dashboards")
        .WithEnvironment("PROMETHEUS_URL", "http://host.docker.internal:" + prometheusPort.ToString(System.Globalization.CultureInfo.InvariantCulture))
        .WithHttpEndpoint(port: grafanaPort, targetPort: 3000)
        .WaitFor(prometheus);
}
else
{
    Console.WriteLine($"horizon: Grafana not started (no grafana-server on PATH, no container runtime answering). Dashboards: {dashboards} "
        + $"(provisioning in {Path.Combine(dashboards, "provisioning")}; datasource: Prometheus at {prometheusUrl}).");
}

builder.Build().Run();
