using System.ComponentModel;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

/// <summary>Settings of the commands that ask a running controller about its agents and testbeds.</summary>
public class ClusterSettings : CommandSettings
{
    [CommandOption("--controller <URL>")]
    [Description("The controller to ask (default: $HORIZON_CONTROLLER, else http://localhost:5080, the AppHost's first controller).")]
    public string? Controller { get; init; }

    [CommandOption("--token <TOKEN>")]
    [Description("Bearer token (default: $HORIZON_API_TOKEN).")]
    public string? Token { get; init; }

    [CommandOption("--json")]
    [Description("Print the controller's JSON answer as it is.")]
    public bool Json { get; init; }

    public string Url => Controller ?? Environment.GetEnvironmentVariable("HORIZON_CONTROLLER") ?? "http://localhost:5080";

    /// <summary>GETs an API path; a refusal or a dead controller is an <see cref="IOException"/> naming the URL.</summary>
    public async Task<(string Text, JsonNode? Node)> GetAsync(string path, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri(Url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
        if ((Token ?? Environment.GetEnvironmentVariable("HORIZON_API_TOKEN")) is { Length: > 0 } bearer)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        try
        {
            using var response = await http.GetAsync(path, ct);
            var text = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                var error = (JsonNode.Parse(text) as JsonObject)?["error"]?.GetValue<string>() ?? text;
                throw new IOException($"{Url}/{path}: {(int)response.StatusCode}: {error}");
            }

            return (text, JsonNode.Parse(text));
        }
        catch (HttpRequestException e)
        {
            throw new IOException($"cannot reach the controller at {Url}: {e.Message}", e);
        }
    }

    public static string Ago(JsonNode? time)
    {
        if (time is null || !DateTimeOffset.TryParse(time.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var t))
        {
            return "—";
        }

        var s = (DateTimeOffset.UtcNow - t).TotalSeconds;
        return s < 120 ? $"{s:0} s ago" : s < 7200 ? $"{s / 60:0} min ago" : $"{s / 3600:0.#} h ago";
    }

    public static string AgoMs(JsonNode? unixMs) =>
        unixMs?.GetValue<long>() is { } ms && ms > 0 ? Ago(JsonValue.Create(DateTimeOffset.FromUnixTimeMilliseconds(ms).ToString("O", CultureInfo.InvariantCulture))) : "—";
}

/// <summary><c>horizon agents</c>: the cluster's agents (one per test computer): alive or silent, what each serves and runs.</summary>
public sealed class AgentsCommand : AsyncCommand<ClusterSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, ClusterSettings settings, CancellationToken cancellationToken)
    {
        (string Text, JsonNode? Node) answer;
        try
        {
            answer = await settings.GetAsync("api/agents", cancellationToken);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"horizon agents: {e.Message}");
            return 2;
        }

        if (settings.Json)
        {
            Console.WriteLine(answer.Text);
            return 0;
        }

        var agents = answer.Node?.AsArray() ?? [];
        if (agents.Count == 0)
        {
            Console.WriteLine($"no agent has joined the cluster at {settings.Url} yet: start a scheduler service (see README, \"Agents\")");
            return 0;
        }

        var table = new Table().AddColumns("agent", "machine (pid)", "state", "serves", "probes", "running", "unreachable", "first claim");
        foreach (var a in agents.OfType<JsonObject>())
        {
            var live = a["live"]?.GetValue<bool>() == true;
            var hosts = a["servesAny"]?.GetValue<bool>() == true ? "any host"
                : string.Join("\n", (a["hosts"]?.AsArray() ?? []).OfType<JsonObject>().Select(h => $"{h["testbed"]}/{h["host"]} {h["endpoint"]}"));
            var campaign = a["campaign"]?.GetValue<string>();
            var unreachable = (a["unreachable"]?.AsArray() ?? []).Select(u => u?.GetValue<string>()).OfType<string>().ToList();
            table.AddRow(
                Markup.Escape(a["id"]?.GetValue<string>() ?? "?"),
                Markup.Escape($"{a["machine"]} ({a["pid"]})"),
                live ? $"[green]live[/] ({ClusterSettings.Ago(a["heardAt"])})" : $"[red]silent[/] since {ClusterSettings.Ago(a["heardAt"])}",
                Markup.Escape(hosts),
                Markup.Escape(a["probes"]?.GetValue<string>() ?? "the testbed's"),
                campaign is null ? "idle" : Markup.Escape($"{campaign}: {a["runningExperiments"]} experiment(s)"),
                unreachable.Count == 0 ? "—" : $"[red]{Markup.Escape(string.Join("\n", unreachable))}[/]",
                a["firstClaimAfterSeconds"]?.GetValue<double>() is { } f ? string.Create(CultureInfo.InvariantCulture, $"{f:0.0} s after start") : "—");
        }

        AnsiConsole.Write(table);
        return 0;
    }
}

/// <summary><c>horizon testbeds [NAME]</c>: the testbeds the cluster knows, or one testbed's hosts and guests, live.</summary>
public sealed class TestbedsCommand : AsyncCommand<TestbedsCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "[NAME]")]
        [Description("A testbed: its hosts (agent, topology, reachability, CPU placement) and guests (state, duty, last seen).")]
        public string? Name { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        (string Text, JsonNode? Node) answer;
        try
        {
            answer = await settings.GetAsync(settings.Name is null ? "api/testbeds" : $"api/testbeds/{Uri.EscapeDataString(settings.Name)}", cancellationToken);
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"horizon testbeds: {e.Message}");
            return 2;
        }

        if (settings.Json)
        {
            Console.WriteLine(answer.Text);
            return 0;
        }

        if (settings.Name is null)
        {
            var names = (answer.Node?.AsArray() ?? []).Select(n => n?.GetValue<string>()).OfType<string>().ToList();
            Console.WriteLine(names.Count == 0 ? "no testbed known yet" : string.Join("\n", names));
            return 0;
        }

        var t = answer.Node!.AsObject();
        AnsiConsole.MarkupLine($"testbed [bold]{Markup.Escape(settings.Name)}[/], served by {Markup.Escape(t["agent"]?.GetValue<string>() ?? "no agent (known from a campaign)")}");
        var hosts = new Table().AddColumns("host", "platform", "agent", "endpoint", "reachable", "CPUs", "placement (scheme)");
        foreach (var h in (t["hosts"]?.AsArray() ?? []).OfType<JsonObject>())
        {
            var host = h["host"]!.AsObject();
            var topology = host["topology"] as JsonObject;
            var placement = (host["placement"] as JsonObject)?.Select(kv => $"{kv.Key}: {kv.Value}").ToList() ?? [];
            hosts.AddRow(
                Markup.Escape(host["name"]?.GetValue<string>() ?? "?"),
                Markup.Escape(h["platform"]?.GetValue<string>() ?? "?"),
                Markup.Escape(host["agent"]?.GetValue<string>() ?? "—"),
                Markup.Escape(host["endpoint"]?.GetValue<string>() ?? "—"),
                host["reachable"]?.GetValue<bool>() switch
                {
                    true => $"[green]yes[/] ({ClusterSettings.AgoMs(host["checkedUnixMs"])})",
                    false => $"[red]no[/]: {Markup.Escape(host["reachDetail"]?.GetValue<string>() ?? "")}",
                    null => "not checked",
                },
                topology is null ? "—" : Markup.Escape($"{topology["cpus"]} × {topology["cpuModel"]}"),
                placement.Count == 0 ? "—" : Markup.Escape(string.Join("\n", placement) + $"\n({host["scheme"]}, {ClusterSettings.AgoMs(host["placedUnixMs"])})"));
        }

        AnsiConsole.Write(hosts);
        var guests = new Table().AddColumns("guest", "host", "platform", "state", "agent", "campaign / experiment", "last seen");
        foreach (var g in (t["guests"]?.AsArray() ?? []).OfType<JsonObject>())
        {
            var guest = g["guest"]!.AsObject();
            var state = guest["status"]?.ToString() ?? "?";
            var detail = guest["detail"]?.GetValue<string>();
            guests.AddRow(
                Markup.Escape(guest["name"]?.GetValue<string>() ?? "?"),
                Markup.Escape(guest["host"]?.GetValue<string>() ?? "—"),
                Markup.Escape(g["platform"]?.GetValue<string>() ?? "?"),
                Markup.Escape(state + (detail is null || guest["experiment"] is not null ? "" : $": {detail}")),
                Markup.Escape(guest["agent"]?.GetValue<string>() ?? "—"),
                Markup.Escape(guest["campaign"] is null ? "—" : $"{guest["campaign"]} / {guest["experiment"]?.GetValue<string>() ?? "—"}"),
                ClusterSettings.AgoMs(guest["lastSeenUnixMs"]));
        }

        AnsiConsole.Write(guests);
        return 0;
    }
}
