using System.Net.Http.Headers;

namespace Horizon.Cli;

/// <summary>Reads a campaign's results export (JSON) from a running controller: the one place the CLI does so.</summary>
internal static class ControllerResults
{
    /// <summary>The campaign's export as text; an answer other than 2xx is an <see cref="IOException"/> naming the status.</summary>
    public static async Task<string> FetchAsync(string url, string? token, string campaign, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) };
        if ((token ?? Environment.GetEnvironmentVariable("HORIZON_API_TOKEN")) is { Length: > 0 } bearer)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        using var response = await http.GetAsync($"api/campaigns/{Uri.EscapeDataString(campaign)}/results?format=json", ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        return response.IsSuccessStatusCode ? text : throw new IOException($"{url}: campaign '{campaign}': {(int)response.StatusCode} {text}");
    }
}
