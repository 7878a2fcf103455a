using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Horizon.Config;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// A real OpenSSH server of the test's own on 127.0.0.1 (generated host and client keys, key-only auth). It runs in a
/// private mount namespace with an empty /root so the machine's shell start-up files are not read per session.
/// </summary>
public sealed class Sshd : IAsyncDisposable
{
    private readonly Process process;

    private Sshd(string dir, int port, Process process, string fingerprint)
    {
        Directory = dir;
        Port = port;
        this.process = process;
        Fingerprint = fingerprint;
    }

    public string Directory { get; }

    public int Port { get; }

    public string Fingerprint { get; }

    public string ClientKey => Path.Combine(Directory, "client_ed25519");

    public string HostPublicKey => File.ReadAllText(Path.Combine(Directory, "host_ed25519.pub")).Trim();

    public int Pid => process.Id;

    public TransportSpec Spec(string? fingerprint = null, string? knownHosts = null) =>
        new(TransportKind.Ssh, "127.0.0.1", Port, "root", ClientKey, knownHosts is null ? fingerprint ?? Fingerprint : null, knownHosts);

    public static async Task<Sshd> StartAsync()
    {
        var dir = Path.Combine(Path.GetTempPath(), "horizon-sshd-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "empty"));
        System.IO.Directory.CreateDirectory("/run/sshd");
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(dir, "host_ed25519"));
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(dir, "client_ed25519"));
        File.Copy(Path.Combine(dir, "client_ed25519.pub"), Path.Combine(dir, "authorized_keys"));
        var fingerprint = (await Run("ssh-keygen", "-lf", Path.Combine(dir, "host_ed25519.pub"))).Split(' ')[1];
        var port = FreePort();
        await File.WriteAllTextAsync(Path.Combine(dir, "sshd_config"), Horizon.Lab.GuestRoots.SshdConfig(
            "127.0.0.1", port, $"{dir}/host_ed25519", $"{dir}/sshd.pid", $"{dir}/authorized_keys"));
        var start = new ProcessStartInfo("unshare") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { "--mount", "--propagation", "private", "sh", "-c", $"mount --bind {dir}/empty /root && exec /usr/sbin/sshd -D -f {dir}/sshd_config -E {dir}/sshd.log" })
        {
            start.ArgumentList.Add(a);
        }

        var process = Process.Start(start)!;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < until)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return new Sshd(dir, port, process, fingerprint);
            }
            catch (SocketException)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"sshd exited: {await process.StandardError.ReadToEndAsync()} {SafeRead(Path.Combine(dir, "sshd.log"))}");
                }

                await Task.Delay(50);
            }
        }

        throw new TimeoutException("sshd did not start listening");
    }

    /// <summary>Cuts every open SSH connection (kills sshd's per-connection processes); the listener stays.</summary>
    public async Task CutConnectionsAsync() => await Run("pkill", "-KILL", "-P", Pid.ToString());

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Run("pkill", "-KILL", "-P", Pid.ToString());
        }
        catch (InvalidOperationException)
        {
        }

        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private static string SafeRead(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<string> Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0 && file != "pkill")
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {await p.StandardError.ReadToEndAsync()}");
        }

        return output;
    }
}
