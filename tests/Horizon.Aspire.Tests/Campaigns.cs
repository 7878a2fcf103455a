using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Horizon.Desk;

namespace Horizon.Aspire.Tests;

/// <summary>Submitting to a controller's HTTP API and following a campaign, as `horizon run --controller` does.</summary>
internal static class Campaigns
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Two native guests on this machine (run concurrently: fairness) and the machine itself as network peer.</summary>
    public const string TwoGuestTestbed = """
        testbed: cluster-test
        hosts:
          - name: localhost
            platform: native
        guests:
          - name: native-a
            host: localhost
            vcpus: 1
            workdir: /var/tmp/horizon-cluster-a
          - name: native-b
            host: localhost
            vcpus: 1
            workdir: /var/tmp/horizon-cluster-b
        peer: { name: peer, address: 127.0.0.1 }
        """;

    public static async Task<SubmissionView> SubmitAsync(HttpClient http, CampaignSubmission submission, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync("api/campaigns", submission, Json, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"submission refused ({(int)response.StatusCode}): {body}");
        return JsonSerializer.Deserialize<SubmissionView>(body, Json)!;
    }

    public static async Task<SubmissionView> ViewAsync(HttpClient http, string name, CancellationToken ct) =>
        (await http.GetFromJsonAsync<SubmissionView>($"api/campaigns/{name}", Json, ct))!;

    /// <summary>Polls until the campaign leaves Queued/Running, or fails the test with the campaign's log after the limit.</summary>
    public static async Task<SubmissionView> WaitFinishedAsync(Func<HttpClient> http, string name, TimeSpan limit, CancellationToken ct, Func<SubmissionView, Task>? onPoll = null)
    {
        var until = DateTime.UtcNow + limit;
        SubmissionView? view = null;
        while (DateTime.UtcNow < until)
        {
            try
            {
                view = await ViewAsync(http(), name, ct);
                if (view.State is not ("Queued" or "Running"))
                {
                    return view;
                }

                if (onPoll is not null)
                {
                    await onPoll(view);
                }
            }
            catch (HttpRequestException)
            {
                // The controller answering may be the one just killed; the caller's factory gives the other.
            }

            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }

        Assert.Fail($"campaign {name} not finished after {limit}: {view?.State}; log:\n{string.Join("\n", view?.Log ?? [])}");
        return null!;
    }

    public static async Task<JsonArray> ResultsAsync(HttpClient http, string name, CancellationToken ct)
    {
        var json = JsonNode.Parse(await http.GetStringAsync($"api/campaigns/{name}/results?format=json", ct))!;
        return json["experiments"]!.AsArray();
    }

    /// <summary>Datagrams that are not probes, to the scheduler's probe port: the timing service must count them as rejected.</summary>
    public static void SendGarbage(int port, int count)
    {
        using var udp = new UdpClient();
        for (var i = 0; i < count; i++)
        {
            udp.Send(System.Text.Encoding.ASCII.GetBytes($"not a probe {i}"), new IPEndPoint(IPAddress.Loopback, port));
        }
    }
}
