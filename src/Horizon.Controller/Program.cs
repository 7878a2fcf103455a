using Horizon.Api;
using Horizon.Cluster;
using Horizon.ServiceDefaults;

// A controller silo of the distributed mode: hosts the grains (state and results in Redis) and the HTTP API that
// `horizon run --controller URL` submits to. Run two or more: any of them answers, and a campaign survives one's death.
var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddHorizonSilo();
builder.Services.AddHealthChecks().AddCheck<ClusterHealthCheck>("cluster");
builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = ControllerApi.MaxBodyBytes);

var app = builder.Build();
var token = app.Configuration["Horizon:ApiToken"];
if (!string.IsNullOrEmpty(token))
{
    var security = ApiSecurity.Create("0.0.0.0", 0, token);
    ControllerApi.RequireToken(app, security.Allows);
}

app.MapDefaultEndpoints();
app.MapGet("/healthz", () => "ok");
ControllerApi.Map(app, app.Services.GetRequiredService<ICampaignDesk>());
app.Run();
