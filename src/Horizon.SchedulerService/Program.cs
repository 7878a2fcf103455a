using Horizon.Cluster;
using Horizon.SchedulerService;
using Horizon.ServiceDefaults;

// The scheduler service of the distributed mode, the *agent* of one test computer: an Orleans client that claims the
// experiments sitting on the hosts it serves (Horizon:Testbeds; none: any), holds the SSH sessions to their guests and
// runs their rounds, and owns the timing socket their probes arrive at (UDP, port Horizon:ProbePort unless a testbed
// names one). Its HTTP port serves only /metrics and the health endpoints. See AgentSettings for every setting.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddHorizonClusterClient();
// One agent per test computer: which hosts it serves and where it takes probes come from its testbed files.
builder.Services.AddSingleton(AgentSettings.Read(builder.Configuration));
builder.Services.AddHostedService<CampaignWorker>();
builder.Services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
