using Horizon.Cluster;
using Horizon.SchedulerService;
using Horizon.ServiceDefaults;

// The scheduler service of the distributed mode: an Orleans client that claims campaigns from the cluster, holds the
// SSH sessions to the guests and runs their rounds, and owns the timing socket their probes arrive at (UDP, port
// Horizon:ProbePort unless a testbed names one). Its HTTP port serves only /metrics and the health endpoints.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddHorizonClusterClient();
builder.Services.AddHostedService<CampaignWorker>();
builder.Services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");

var app = builder.Build();
app.MapDefaultEndpoints();
app.Run();
