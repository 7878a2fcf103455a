using System.Text.Json;
using System.Text.RegularExpressions;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>QEMU: vCPU thread ids from QMP (`query-cpus-fast`), pinned with `taskset -pc`.</summary>
public sealed partial class QemuAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.Qemu;

    private static string Socket(GuestSpec g) => g.Qmp ?? throw new TestbedException($"qemu guest '{g.Name}' needs 'qmp' (the QMP socket path on its host) in the testbed");

    public static string QueryCommand(string socket) =>
        $"printf '%s\\n' '{{\"execute\":\"qmp_capabilities\"}}' '{{\"execute\":\"query-cpus-fast\"}}' | socat -t2 - UNIX-CONNECT:{Q(socket)}";

    /// <summary>Thread ids in vCPU order from QMP's replies (the greeting, the capabilities ack, then the cpu list).</summary>
    public static IReadOnlyList<int> ParseThreads(string qmpOutput)
    {
        foreach (var line in qmpOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                throw new TestbedException($"QMP error: {error.GetProperty("desc").GetString()}");
            }

            if (doc.RootElement.TryGetProperty("return", out var ret) && ret.ValueKind == JsonValueKind.Array)
            {
                return [.. ret.EnumerateArray().OrderBy(c => c.GetProperty("cpu-index").GetInt32()).Select(c => c.GetProperty("thread-id").GetInt32())];
            }
        }

        throw new TestbedException("QMP did not answer query-cpus-fast");
    }

    private static async Task<IReadOnlyList<int>> Threads(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var threads = ParseThreads(await host.Must(QueryCommand(Socket(guest)), ct));
        return threads.Count == guest.Vcpus ? threads
            : throw new TestbedException($"qemu guest '{guest.Name}' has {threads.Count} vCPU thread(s), the testbed says vcpus: {guest.Vcpus}");
    }

    public override async Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct)
    {
        var threads = await Threads(host, guest, ct);
        await host.Must(string.Join(" && ", threads.Select((t, i) => $"taskset -pc {vcpus?[i] ?? host.Topology.All} {t} >/dev/null")), ct);
    }

    [GeneratedRegex(@"affinity list:\s*(\S+)")]
    private static partial Regex AffinityList();

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var threads = await Threads(host, guest, ct);
        var lists = new List<string>();
        foreach (var t in threads)
        {
            var cmd = $"taskset -pc {t}";
            var m = AffinityList().Match(await host.Must(cmd, ct));
            lists.Add(m.Success ? m.Groups[1].Value : throw new TestbedException($"`{cmd}` printed no affinity list"));
        }

        return lists;
    }
}
