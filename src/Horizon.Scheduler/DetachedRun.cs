using System.Globalization;
using Horizon.Config;
using Horizon.Scripts;

namespace Horizon.Scheduler;

/// <summary>
/// Runs a guest script detached from the transport (its own session, output to a log in the work directory) and
/// follows the log. A dropped SSH connection does not stop the guest: the log is followed again from the last line
/// seen once the transport reconnects. Cancellation and the time limit end the whole process group.
/// </summary>
/// <remarks>
/// Starting and following are one command, and the follower ends on the script's own last line ("HZ exit"), not on
/// noticing that its process is gone (<c>tail --pid</c> notices that only every second or two — which used to be
/// every round's wait). <c>tail -F</c> follows by inotify, so each line reaches the controller when it is written.
/// </remarks>
public static class DetachedRun
{
    private const string ExitPrefix = "HZ exit ";
    private const string PidPrefix = "HZ pid ";

    /// <remarks><c>file</c>: a file (name in the work directory, content) written 0600 just before the script starts, by the
    /// same command — its content travels as the command's input, so an SSH guest costs one round trip, not three.</remarks>
    public static async Task<CommandResult> RunAsync(
        IGuestTransport transport, string workdir, string command, TimeSpan timeout, Action<string> onLine, Action<string>? onNotice, CancellationToken ct,
        (string Name, string Content)? file = null)
    {
        var log = $"{workdir}/run.log";
        var follow = new Follower(onLine);
        var deadline = DateTime.UtcNow + timeout;
        int? pid = null;
        var start =
            $"cd {GuestScripts.Quote(workdir)} || exit 1\numask 077\n" +
            // Builtins only before the script starts (each fork is a millisecond of every round): mapfile reads the file's
            // content from standard input, ": >" empties the log so the follower cannot read the previous block's lines.
            (file is { } f ? $"mapfile L && printf '%s' \"${{L[@]}}\" > {GuestScripts.Quote(f.Name)} || exit 1\n" : "") +
            ": > run.log\n" +
            $"setsid /bin/bash -c {GuestScripts.Quote($"{command}; echo \"{ExitPrefix}$?\"")} > run.log 2>&1 < /dev/null &\n" +
            $"p=$!\necho \"{PidPrefix}$p\"\n" + FollowScript(log, "$p", 0);
        try
        {
            while (!follow.Exited)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    if (pid is { } p)
                    {
                        await KillAsync(transport, p);
                    }

                    return new CommandResult(-1, "", follow.ErrorTail, true);
                }

                try
                {
                    if (pid is null)
                    {
                        void OnStartLine(string line)
                        {
                            if (pid is null && line.StartsWith(PidPrefix, StringComparison.Ordinal) && int.TryParse(line[PidPrefix.Length..], CultureInfo.InvariantCulture, out var p))
                            {
                                pid = p;
                            }
                            else
                            {
                                follow.Line(line);
                            }
                        }

                        var started = file is { } upload
                            ? await transport.RunWithInputAsync(start, upload.Content, left, OnStartLine, ct)
                            : await transport.RunAsync(start, left, OnStartLine, ct);
                        if (pid is null)
                        {
                            throw new TestbedException($"cannot start the guest script over {transport.Description}: {started.ErrorTail}");
                        }
                    }
                    else
                    {
                        await transport.RunAsync(FollowScript(log, pid.Value.ToString(CultureInfo.InvariantCulture), follow.Seen), left, follow.Line, ct);
                    }

                    if (!follow.Exited)
                    {
                        // The follower ended without the exit line: the script's process is gone (killed) or the log is.
                        // Whatever reached the log before that is read below.
                        break;
                    }
                }
                catch (IOException e) when (pid is not null)
                {
                    onNotice?.Invoke($"lost the connection while following the guest ({e.Message}); the guest keeps running, reconnecting");
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                }
            }

            if (!follow.Exited)
            {
                await transport.RunAsync($"tail -n +{follow.Seen + 1} {GuestScripts.Quote(log)} 2>/dev/null", TimeSpan.FromSeconds(30), follow.Line, CancellationToken.None);
            }

            return new CommandResult(follow.ExitCode ?? -1, "", follow.ErrorTail, false);
        }
        catch (OperationCanceledException)
        {
            if (pid is { } p)
            {
                await KillAsync(transport, p);
            }

            throw;
        }
    }

    /// <summary>
    /// Prints the log from line <paramref name="seen"/> + 1 as it grows and ends after the exit line; <c>--pid</c> is
    /// only the fallback for a script killed before it could write that line.
    /// </summary>
    private static string FollowScript(string log, string pid, int seen) =>
        $"exec 4< <(exec tail -n +{seen + 1} -s 0.2 -F --pid={pid} {GuestScripts.Quote(log)} 2>/dev/null)\nt=$!\n" +
        $"while IFS= read -r -u 4 l; do printf '%s\\n' \"$l\"; [[ $l == '{ExitPrefix}'* ]] && break; done\n" +
        "kill $t 2>/dev/null\nexit 0";

    private static async Task KillAsync(IGuestTransport transport, int pid)
    {
        try
        {
            await transport.RunAsync($"kill -KILL -- -{pid} 2>/dev/null; true", TimeSpan.FromSeconds(30), null, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or TestbedException)
        {
            // The guest is unreachable; its own round timeout and the controller's bookkeeping still conclude the rounds.
        }
    }

    /// <summary>Counts the log lines seen (to resume after a reconnect), notes the exit line and keeps the last non-protocol lines.</summary>
    private sealed class Follower(Action<string> onLine)
    {
        private readonly Queue<string> tail = new();

        public int Seen { get; private set; }

        public int? ExitCode { get; private set; }

        public bool Exited => ExitCode is not null;

        public string ErrorTail => string.Join('\n', tail);

        public void Line(string line)
        {
            Seen++;
            if (line.StartsWith(ExitPrefix, StringComparison.Ordinal) && int.TryParse(line[ExitPrefix.Length..], CultureInfo.InvariantCulture, out var rc))
            {
                ExitCode = rc;
            }
            else if (!line.StartsWith(GuestScripts.LinePrefix, StringComparison.Ordinal))
            {
                tail.Enqueue(line);
                if (tail.Count > 5)
                {
                    tail.Dequeue();
                }
            }

            onLine(line);
        }
    }
}
