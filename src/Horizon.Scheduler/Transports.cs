using System.Diagnostics;
using System.Text;
using Horizon.Config;

namespace Horizon.Scheduler;

public sealed record CommandResult(int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    public string ErrorTail => Tail(Stderr.Length > 0 ? Stderr : Stdout);

    public static string Tail(string text, int lines = 5) =>
        string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).TakeLast(lines));
}

/// <summary>How the scheduler runs commands in a guest or on a host. SSH is never on the timed path.</summary>
public interface IGuestTransport : IAsyncDisposable
{
    string Description { get; }

    /// <summary>Runs a bash script; stdout lines are streamed to <paramref name="onLine"/> as they come.</summary>
    Task<CommandResult> RunAsync(string script, TimeSpan timeout, Action<string>? onLine = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// The same with <paramref name="input"/> as the script's standard input (then closed): a way to hand over a file's
    /// content in the command's own round trip.
    /// </summary>
    Task<CommandResult> RunWithInputAsync(string script, string input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken);

    Task WriteFileAsync(string path, string content, CancellationToken cancellationToken = default);
}

public static class Transports
{
    public static IGuestTransport For(GuestSpec guest) => guest.Transport.Kind == TransportKind.Exec
        ? new ExecTransport(ExecTransport.Command(guest))
        : For(guest.Name, guest.Transport, guest.Wrapper);

    public static IGuestTransport For(string name, TransportSpec spec, IReadOnlyList<string>? wrapper = null) => spec.Kind switch
    {
        TransportKind.Local => new LocalTransport(wrapper),
        TransportKind.Exec => new ExecTransport([.. spec.Exec.Select(w => w.Replace("{instance}", name, StringComparison.Ordinal))]),
        _ => new SshTransport(name, spec),
    };
}

/// <summary>Runs bash on this machine, optionally under a wrapper command (e.g. faketime to give the guest a wrong clock).</summary>
public sealed class LocalTransport(IReadOnlyList<string>? wrapper = null) : IGuestTransport
{
    public string Description => wrapper is { Count: > 0 } ? $"local (wrapped: {string.Join(' ', wrapper)})" : "local";

    public Task<CommandResult> RunAsync(string script, TimeSpan timeout, Action<string>? onLine = null, CancellationToken cancellationToken = default) =>
        RunCoreAsync(script, null, timeout, onLine, cancellationToken);

    public Task<CommandResult> RunWithInputAsync(string script, string input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken) =>
        RunCoreAsync(script, input, timeout, onLine, cancellationToken);

    private async Task<CommandResult> RunCoreAsync(string script, string? input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (wrapper is { Count: > 0 })
        {
            start.FileName = wrapper[0];
            foreach (var a in wrapper.Skip(1))
            {
                start.ArgumentList.Add(a);
            }

            start.ArgumentList.Add("/bin/bash");
        }
        else
        {
            start.FileName = "/bin/bash";
        }

        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        using var process = new Process { StartInfo = start };
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.Start();
        var readOut = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (stdout)
                {
                    stdout.Append(line).Append('\n');
                }

                onLine?.Invoke(line);
            }
        }, CancellationToken.None);
        var readErr = Task.Run(async () =>
        {
            while (await process.StandardError.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (stderr)
                {
                    stderr.Append(line).Append('\n');
                }
            }
        }, CancellationToken.None);
        try
        {
            // After the readers started: a script that writes before reading its input cannot block on a full pipe.
            if (input is not null)
            {
                await process.StandardInput.WriteAsync(input.AsMemory(), cancellationToken);
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The script ended without reading its input: its exit status says what happened.
        }

        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeoutCts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = !cancellationToken.IsCancellationRequested;
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }

            await process.WaitForExitAsync(CancellationToken.None);
        }

        try
        {
            await Task.WhenAll(readOut, readErr).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A process left behind holds the pipe open; what was read so far is the result.
        }

        cancellationToken.ThrowIfCancellationRequested();
        return new CommandResult(timedOut ? -1 : process.ExitCode, stdout.ToString(), stderr.ToString(), timedOut);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task WriteFileAsync(string path, string content, CancellationToken cancellationToken = default)
    {
        // As over SSH: the work directory 0700, its files 0600 (they hold the experiment's probe tags).
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory, owner);
        File.SetUnixFileMode(directory, owner);
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        await using (var stream = new FileStream(path, options))
        await using (var writer = new StreamWriter(stream))
        {
            await writer.WriteAsync(content.AsMemory(), cancellationToken);
        }

        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
