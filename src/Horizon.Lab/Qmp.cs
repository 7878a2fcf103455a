using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Horizon.Lab;

/// <summary>The few QMP (QEMU Machine Protocol) exchanges the lab needs, over the VM's unix socket.</summary>
public static class Qmp
{
    /// <summary>Thread ids of the VM's vCPUs (query-cpus-fast), in vCPU order.</summary>
    public static async Task<List<int>> VcpuThreadsAsync(string socketPath, CancellationToken ct)
    {
        var reply = await ExecuteAsync(socketPath, "query-cpus-fast", ct);
        return [.. reply.GetProperty("return").EnumerateArray().OrderBy(c => c.GetProperty("cpu-index").GetInt32()).Select(c => c.GetProperty("thread-id").GetInt32())];
    }

    public static async Task<JsonElement> ExecuteAsync(string socketPath, string command, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        await reader.ReadLineAsync(timeout.Token); // greeting
        await Send(stream, "{\"execute\":\"qmp_capabilities\"}", timeout.Token);
        await Reply(reader, timeout.Token);
        await Send(stream, $"{{\"execute\":\"{command}\"}}", timeout.Token);
        return await Reply(reader, timeout.Token);
    }

    private static async Task Send(NetworkStream stream, string json, CancellationToken ct) =>
        await stream.WriteAsync(Encoding.UTF8.GetBytes(json + "\n"), ct);

    private static async Task<JsonElement> Reply(StreamReader reader, CancellationToken ct)
    {
        // Asynchronous events may arrive first; the reply is the line with "return" or "error".
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty("error", out var error))
            {
                throw new LabException($"QMP: {error}");
            }

            if (doc.RootElement.TryGetProperty("return", out _))
            {
                return doc.RootElement.Clone();
            }
        }

        throw new IOException("QMP: the connection closed before a reply");
    }
}
