using Horizon.Config;
using Horizon.Scripts;

namespace Horizon.Scheduler;

/// <summary>
/// A guest reached through its platform's own command on the agent's machine — `docker exec -i C`, `podman exec -i C`,
/// `lxc-attach -n C --` — so a container needs no sshd. Scripts run as `COMMAND /bin/bash -c SCRIPT`; files are written
/// through the same command (0700 directory, 0600 file, as over SSH), never on the agent's own file system.
/// </summary>
public sealed class ExecTransport(IReadOnlyList<string> command) : IGuestTransport
{
    private readonly LocalTransport inner = new(command);

    /// <summary>The guest's exec command: <c>{instance}</c> replaced by its instance name; lxc-attach gets the container path.</summary>
    public static IReadOnlyList<string> Command(GuestSpec guest)
    {
        var words = guest.Transport.Exec.Select(w => w.Replace("{instance}", guest.InstanceName, StringComparison.Ordinal)).ToList();
        if (words.Count > 0 && Path.GetFileName(words[0]) == "lxc-attach" && guest.LxcPath is { } path && !words.Contains("-P"))
        {
            words.InsertRange(1, ["-P", path]);
        }

        return words;
    }

    public string Description => $"exec ({string.Join(' ', command)})";

    public Task<CommandResult> RunAsync(string script, TimeSpan timeout, Action<string>? onLine = null, CancellationToken cancellationToken = default) =>
        inner.RunAsync(script, timeout, onLine, cancellationToken);

    public Task<CommandResult> RunWithInputAsync(string script, string input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken) =>
        inner.RunWithInputAsync(script, input, timeout, onLine, cancellationToken);

    public async Task WriteFileAsync(string path, string content, CancellationToken cancellationToken = default)
    {
        var directory = Path.GetDirectoryName(path) ?? "/";
        var r = await inner.RunWithInputAsync(
            $"umask 077 && mkdir -p {GuestScripts.Quote(directory)} && chmod 700 {GuestScripts.Quote(directory)} && cat > {GuestScripts.Quote(path)} && chmod 600 {GuestScripts.Quote(path)}",
            content, TimeSpan.FromMinutes(1), null, cancellationToken);
        if (r.ExitCode != 0)
        {
            throw new TestbedException($"cannot write {path} through {Description}: exit {r.ExitCode}: {r.ErrorTail}");
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
