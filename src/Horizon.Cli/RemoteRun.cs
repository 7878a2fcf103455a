using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Horizon.Api;
using Horizon.Desk;

namespace Horizon.Cli;

/// <summary>`horizon run --controller URL`: submits the campaign to a running controller and follows it.</summary>
public static class RemoteRun
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<int> RunAsync(string controller, string? token, CampaignSettings settings, string? name, CancellationToken ct)
    {
        if (!Uri.TryCreate(controller, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            return Render.Error($"--controller: '{controller}' is not an http(s) URL");
        }

        string? Read(string? path) => path is null ? null : File.ReadAllText(path);
        CampaignSubmission submission;
        try
        {
            submission = new CampaignSubmission(Read(settings.Testbed), Read(settings.Campaign), settings.Preset, name);
        }
        catch (IOException e)
        {
            return Render.Error(e.Message);
        }

        using var http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(30) };
        token ??= Environment.GetEnvironmentVariable("HORIZON_API_TOKEN");
        if (!string.IsNullOrEmpty(token))
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        SubmissionView? view;
        try
        {
            using var response = await http.PostAsJsonAsync("api/campaigns", submission, Json, ct);
            if (!response.IsSuccessStatusCode)
            {
                var error = await response.Content.ReadFromJsonAsync<ApiError>(Json, ct);
                return Render.Error($"{controller} refused the campaign ({(int)response.StatusCode}): {error?.Error}");
            }

            view = await response.Content.ReadFromJsonAsync<SubmissionView>(Json, ct);
        }
        catch (HttpRequestException e)
        {
            return Render.Error($"cannot reach the controller at {controller}: {e.Message}");
        }

        Console.WriteLine($"horizon: submitted campaign {view!.Name} to {controller}: {view.Experiments} experiment(s), up to {view.PlannedRounds} rounds");
        var shown = 0;
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            try
            {
                view = await http.GetFromJsonAsync<SubmissionView>($"api/campaigns/{Uri.EscapeDataString(view!.Name)}", Json, ct);
            }
            catch (HttpRequestException e)
            {
                // The controller keeps running the campaign; following it again is harmless.
                Console.WriteLine($"horizon: lost contact with {controller} ({e.Message}); retrying");
                continue;
            }

            // The log is a bounded tail: print what is new since the last look.
            var log = view!.Log;
            var fresh = Math.Min(view.LogTotal - shown, log.Count);
            foreach (var line in log.Skip(log.Count - fresh))
            {
                Console.WriteLine(line);
            }

            shown = view.LogTotal;
            if (view.State is not ("Queued" or "Running"))
            {
                break;
            }
        }

        Console.WriteLine(await http.GetStringAsync($"api/campaigns/{Uri.EscapeDataString(view.Name)}/results?format=text", ct));
        Console.WriteLine($"horizon: {view.State.ToLowerInvariant()}{(view.Detail is null ? "" : $": {view.Detail}")}; {view.Measured} rounds measured, {view.Failed} failed");
        return view.State == "Completed" ? 0 : 1;
    }
}
