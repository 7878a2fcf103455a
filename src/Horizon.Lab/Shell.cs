using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Horizon.Lab;

/// <summary>The lab's commands on this machine (ip, nsenter, lxc-*, qemu…): run, require, spawn detached.</summary>
internal static class Shell
{
    /// <summary>Runs a bash command line; its exit code, output and error output.</summary>
    public static async Task<(int Code, string Output, string Error)> Run(string command, CancellationToken ct)
    {
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        return (p.ExitCode, await output, await error);
    }

    public static async Task Must(string command, CancellationToken ct)
    {
        var (code, _, error) = await Run(command, ct);
        if (code != 0)
        {
            throw new LabException($"lab: `{command}` failed: {error.Trim()}");
        }
    }

    public static async Task<int> Sh(string command, CancellationToken ct) => (await Run(command, ct)).Code;

    public static async Task<string> Output(string command, CancellationToken ct)
    {
        var (code, output, error) = await Run(command, ct);
        return code == 0 ? output : throw new LabException($"lab: `{command}` failed: {error.Trim()}");
    }

    /// <summary>Starts a long-lived process in its own session (it outlives this command); returns its pid.</summary>
    public static int Spawn(string command)
    {
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false, RedirectStandardOutput = true };
        foreach (var a in new[] { "-f", "bash", "-c", $"{command} > /dev/null 2>&1 < /dev/null & echo $!" })
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        var pid = p.StandardOutput.ReadLine();
        p.WaitForExit();
        return int.Parse(pid!.Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Whether <paramref name="p"/>'s pid is still the process the lab started (its command line holds the marker).</summary>
    public static bool IsOurs(LabProcess p)
    {
        try
        {
            var cmdline = File.ReadAllText($"/proc/{p.Pid}/cmdline").Replace('\0', ' ');
            return cmdline.Contains(p.Marker, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
