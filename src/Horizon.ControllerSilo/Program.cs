using Horizon.Api;
using Horizon.Cluster;
using Horizon.Desk;
using Horizon.ServiceDefaults;

// A controller silo of the distributed mode: hosts the grains (state and results in Redis) and the HTTP API that
// `horizon run --controller URL` submits to. Run two or more: any of them answers, and a campaign survives one's death.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddHorizonSilo();
builder.Services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");
builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = ControllerApi.MaxBodyBytes);

var app = builder.Build();
// Loopback names and Horizon:AllowedHosts are the names the API answers to (DNS rebinding); Horizon:ApiToken, when set,
// is required on every request but health and metrics.
var token = app.Configuration["Horizon:ApiToken"];
var security = string.IsNullOrEmpty(token) ? new ApiSecurity(System.Net.IPAddress.Loopback, 0, null) : ApiSecurity.Create("0.0.0.0", 0, token);
ControllerApi.Guard(app, security with { AllowedHosts = ApiSecurity.HostNames([app.Configuration["Horizon:AllowedHosts"] ?? ""]) });

app.MapDefaultEndpoints();
ControllerApi.Map(app, app.Services.GetRequiredService<ICampaignDesk>());
app.Run();
