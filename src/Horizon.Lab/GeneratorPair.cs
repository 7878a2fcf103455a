using System.Diagnostics;
using System.Globalization;
using Horizon.Workloads;

namespace Horizon.Lab;

/// <summary>
/// A traffic source and sink on this machine with nothing in between: two network namespaces joined by a veth pair,
/// the sink answering for the benchmark ranges (as the lab's forwarding paths do), and the project's generator
/// (fwdgen) compiled for them. Measures the generator's own ceiling (`horizon bench generator`) and checks the
/// zero-loss search against a known bottleneck (a tbf rate limit on the link). Removes everything it made.
/// </summary>
public sealed class GeneratorPair : IAsyncDisposable
{
    private readonly string directory;

    private GeneratorPair(string source, string sink, string directory)
    {
        SourceNetns = source;
        SinkNetns = sink;
        this.directory = directory;
    }

    public string SourceNetns { get; }

    public string SinkNetns { get; }

    public string Generator => Path.Combine(directory, "fwdgen");

    public const string SinkAddress = "10.253.0.2";

    /// <summary>Creates the pair; <paramref name="rateLimit"/> (tc tbf rate, e.g. "8mbit") throttles the source's link.</summary>
    public static async Task<GeneratorPair> CreateAsync(string? rateLimit = null, CancellationToken ct = default)
    {
        var id = Random.Shared.Next(0x10000, 0xfffff).ToString("x", CultureInfo.InvariantCulture);
        var dir = Path.Combine(Path.GetTempPath(), $"horizon-gen-{id}");
        Directory.CreateDirectory(dir);
        var pair = new GeneratorPair($"hz-gen{id}-s", $"hz-gen{id}-k", dir);
        try
        {
            string s = pair.SourceNetns, k = pair.SinkNetns;
            await Must($"ip netns add {s} && ip netns add {k}", ct);
            await Must($"ip -n {s} link set lo up && ip -n {k} link set lo up && " +
                       $"ip -n {s} link add gen type veth peer name gen netns {k} && " +
                       $"ip -n {s} addr add 10.253.0.1/24 dev gen && ip -n {k} addr add {SinkAddress}/24 dev gen && " +
                       $"ip -n {s} link set gen up && ip -n {k} link set gen up && " +
                       $"ip -n {s} route add 192.0.2.0/24 via {SinkAddress} && ip -n {s} route add 198.18.0.0/15 via {SinkAddress} && " +
                       $"ip -n {k} route add local 192.0.2.0/24 dev lo && ip -n {k} route add local 198.18.0.0/15 dev lo", ct);
            if (rateLimit is not null)
            {
                await Must($"ip netns exec {s} tc qdisc add dev gen root tbf rate {rateLimit} burst 4kb latency 20ms", ct);
            }

            await File.WriteAllTextAsync(Path.Combine(dir, "fwdgen.c"), ForwardWorkload.GeneratorSource, ct);
            await Must($"gcc -O2 -pthread -o {pair.Generator} {dir}/fwdgen.c", ct);
            return pair;
        }
        catch
        {
            await pair.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs one fwdgen request (trial or search) between the pair; returns its output lines.</summary>
    public async Task<string> RunAsync(string request, CancellationToken ct = default)
    {
        var (code, output, error) = await Run($"{Generator} run {request.Split(' ')[0]} src_ns={SourceNetns} sink_ns={SinkNetns} {string.Join(' ', request.Split(' ').Skip(1))}", ct);
        return code == 0 ? output : throw new LabException($"fwdgen failed ({code}): {output}{error}");
    }

    /// <summary>iperf3 over the same link as fast as it can (-b 0): frames/s sent and received, or null without iperf3.</summary>
    public async Task<(double SentPps, double ReceivedPps)?> IperfAsync(int payload, TimeSpan duration, CancellationToken ct = default)
    {
        if ((await Run("command -v iperf3", ct)).Code != 0)
        {
            return null;
        }

        var server = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", SinkNetns, "iperf3", "-s", "-1", "-p", "5299"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        try
        {
            await Task.Delay(400, ct);
            var seconds = duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
            var (code, output, error) = await Run($"ip netns exec {SourceNetns} iperf3 -c {SinkAddress} -p 5299 -u -b 0 -l {payload} -t {seconds} -J", ct);
            if (code != 0)
            {
                throw new LabException($"iperf3 failed: {error}{output}");
            }

            using var doc = System.Text.Json.JsonDocument.Parse(output);
            var sum = doc.RootElement.GetProperty("end").GetProperty("sum");
            var packets = sum.GetProperty("packets").GetDouble();
            var lost = sum.GetProperty("lost_packets").GetDouble();
            var s = sum.GetProperty("seconds").GetDouble();
            return (packets / s, (packets - lost) / s);
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
            }

            server.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var ns in new[] { SourceNetns, SinkNetns })
        {
            if (File.Exists($"/run/netns/{ns}"))
            {
                await Run($"ip netns pids {ns} | xargs -r kill -KILL; ip netns del {ns}", CancellationToken.None);
            }
        }

        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Task Must(string command, CancellationToken ct) => Shell.Must(command, ct);

    private static Task<(int Code, string Output, string Error)> Run(string command, CancellationToken ct) => Shell.Run(command, ct);
}
