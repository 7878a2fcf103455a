using System.Globalization;
using Horizon.Config;
using Horizon.Scripts;

namespace Horizon.Scheduler;

/// <summary>
/// Runs a guest script detached from the transport (its own session, output to a log in the work directory) and
/// follows the log. A dropped SSH connection does not stop the guest: the log is followed again from the last line
/// seen once the transport reconnects. Cancellation and the time limit end the whole process group.
/// </summary>
public static class DetachedRun
{
    public static async Task<CommandResult> RunAsync(
        IGuestTransport transport, string workdir, string command, TimeSpan timeout, Action<string> onLine, Action<string>? onNotice, CancellationToken ct)
    {
        var log = $"{workdir}/run.log";
        var start = await transport.RunAsync(
            $"cd {GuestScripts.Quote(workdir)} || exit 1\numask 077\nrm -f run.log\nsetsid /bin/bash -c {GuestScripts.Quote($"{command}; echo \"HZ exit $?\"")} > run.log 2>&1 < /dev/null &\necho \"HZ pid $!\"",
            TimeSpan.FromSeconds(60), null, ct);
        var pidLine = start.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("HZ pid ", StringComparison.Ordinal));
        if (start.ExitCode != 0 || pidLine is null || !int.TryParse(pidLine[7..], CultureInfo.InvariantCulture, out var pid))
        {
            throw new TestbedException($"cannot start the guest script over {transport.Description}: {start.ErrorTail}");
        }

        var seen = 0;
        int? exit = null;
        var tail = new Queue<string>();
        var deadline = DateTime.UtcNow + timeout;
        var finished = false;
        try
        {
            while (!finished)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    await KillAsync(transport, pid);
                    return new CommandResult(-1, "", string.Join('\n', tail), true);
                }

                try
                {
                    await transport.RunAsync(
                        $"tail -n +{seen + 1} -s 0.05 -F --pid={pid} {GuestScripts.Quote(log)} 2>/dev/null",
                        left,
                        line =>
                        {
                            seen++;
                            if (line.StartsWith("HZ exit ", StringComparison.Ordinal) && int.TryParse(line[8..], CultureInfo.InvariantCulture, out var rc))
                            {
                                exit = rc;
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
                        },
                        ct);
                    finished = true;
                }
                catch (IOException e)
                {
                    onNotice?.Invoke($"lost the connection while following the guest ({e.Message}); the guest keeps running, reconnecting");
                    await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
                }
            }

            // tail --pid may stop just before the last line lands; read what is left.
            var rest = await transport.RunAsync($"tail -n +{seen + 1} {GuestScripts.Quote(log)} 2>/dev/null", TimeSpan.FromSeconds(30), line =>
            {
                seen++;
                if (line.StartsWith("HZ exit ", StringComparison.Ordinal) && int.TryParse(line[8..], CultureInfo.InvariantCulture, out var rc))
                {
                    exit = rc;
                }

                onLine(line);
            }, CancellationToken.None);
            return new CommandResult(exit ?? -1, "", string.Join('\n', tail), false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync(transport, pid);
            throw;
        }
    }

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
}
