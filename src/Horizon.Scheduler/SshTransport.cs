using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Horizon.Config;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Horizon.Scheduler;

/// <summary>The host key a guest presented did not match the pinned one: never connect.</summary>
public sealed class HostKeyMismatchException(string message) : TestbedException(message);

/// <summary>
/// SSH to a guest or host (SSH.NET): key authentication, host key pinned by fingerprint or known_hosts file, one
/// long-lived session reconnected on drop, SFTP uploads, commands with timeouts. Nothing secret is logged.
/// </summary>
public sealed class SshTransport : IGuestTransport
{
    private readonly TransportSpec spec;
    private readonly string name;
    private readonly SemaphoreSlim gate = new(1, 1);
    private SshClient? ssh;
    private SftpClient? sftp;
    private string? presentedFingerprint;

    public SshTransport(string name, TransportSpec spec)
    {
        if (spec.Kind != TransportKind.Ssh || spec.Address is null || spec.User is null)
        {
            throw new ArgumentException("an ssh transport needs an address and a user", nameof(spec));
        }

        this.name = name;
        this.spec = spec;
    }

    public string Description => $"ssh {spec.User}@{spec.Address}:{spec.Port}";

    /// <summary>How many times a dropped session was re-established.</summary>
    public int Reconnects { get; private set; }

    public Task<CommandResult> RunAsync(string script, TimeSpan timeout, Action<string>? onLine = null, CancellationToken cancellationToken = default) =>
        RunCoreAsync(script, null, timeout, onLine, cancellationToken);

    public Task<CommandResult> RunWithInputAsync(string script, string input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken) =>
        RunCoreAsync(script, input, timeout, onLine, cancellationToken);

    private async Task<CommandResult> RunCoreAsync(string script, string? input, TimeSpan timeout, Action<string>? onLine, CancellationToken cancellationToken)
    {
        var client = await ConnectedAsync(cancellationToken);
        var text = $"exec /bin/bash -c {Scripts.GuestScripts.Quote(script)}";
        using var command = client.CreateCommand(text);
        using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutCts.CancelAfter(timeout);
        var stdout = new StringBuilder();
        Task execution;
        try
        {
            // Opening the channel happens synchronously inside ExecuteAsync (a blocking wait of up to the connection timeout):
            // done on a thread of its own so that many guests opening channels at once cannot starve the thread pool
            // that SSH.NET's own receive path needs to deliver the confirmations.
            execution = await Task.Factory.StartNew(() => command.ExecuteAsync(timeoutCts.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        catch (Exception e) when (e is SshOperationTimeoutException or SshException)
        {
            Drop();
            throw new IOException($"{name}: SSH to {spec.Address}:{spec.Port} did not open a session channel in time ({e.Message})", e);
        }

        if (input is not null)
        {
            try
            {
                // Standard input, then end of file: the remote side reads it all before the script's output matters.
                using var stdin = command.CreateInputStream();
                await stdin.WriteAsync(Encoding.UTF8.GetBytes(input), cancellationToken);
            }
            catch (Exception e) when (e is SshConnectionException or SshException or ObjectDisposedException)
            {
                Drop();
                throw new IOException($"{name}: the SSH connection to {spec.Address}:{spec.Port} dropped while sending a command's input: {e.Message}", e);
            }
        }

        var reader = Task.Run(async () =>
        {
            using var lines = new StreamReader(command.OutputStream, Encoding.UTF8);
            while (await lines.ReadLineAsync(CancellationToken.None) is { } line)
            {
                stdout.Append(line).Append('\n');
                onLine?.Invoke(line);
            }
        }, CancellationToken.None);
        var timedOut = false;
        try
        {
            await execution;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            timedOut = true;
        }
        catch (SshConnectionException e)
        {
            Drop();
            throw new IOException($"{name}: the SSH connection to {spec.Address}:{spec.Port} dropped during a command: {e.Message}", e);
        }
        catch (Exception e) when (e is SshOperationTimeoutException or SshException)
        {
            // A channel that could not be opened in time (a guest too busy to answer): the next command reconnects.
            Drop();
            throw new IOException($"{name}: SSH to {spec.Address}:{spec.Port} did not answer a command in time ({e.Message})", e);
        }

        await reader.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var exit = timedOut ? -1 : command.ExitStatus ?? (command.ExitSignal is not null ? 128 + SignalNumber(command.ExitSignal) : -1);
        return new CommandResult(exit, stdout.ToString(), command.Error ?? "", timedOut);
    }

    public async Task WriteFileAsync(string path, string content, CancellationToken cancellationToken = default)
    {
        await ConnectedAsync(cancellationToken);
        var directory = path[..Math.Max(1, path.LastIndexOf('/'))];
        // The work directory holds the experiment's precomputed probe tags: only the guest's user may read it, so no
        // other user of the guest can send a round's end probe early. The file is created 0600 before SFTP fills it.
        var made = await RunAsync(Scripts.GuestScripts.PrivateFile(directory, path), TimeSpan.FromSeconds(30), null, cancellationToken);
        if (made.ExitCode != 0)
        {
            throw new IOException($"{name}: cannot create {path} on {spec.Address}:{spec.Port}: {made.ErrorTail}");
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var client = await SftpAsync(cancellationToken);
                using var stream = new MemoryStream(Encoding.UTF8.GetBytes(content));
                await client.UploadFileAsync(stream, path, cancellationToken);
                return;
            }
            catch (Exception e) when (attempt < 2 && e is SshConnectionException or SocketException or ObjectDisposedException or SshOperationTimeoutException)
            {
                Drop();
            }
            catch (Exception e) when (e is SshException or SocketException or ObjectDisposedException)
            {
                Drop();
                throw new IOException($"{name}: cannot write {path} over SFTP to {spec.Address}:{spec.Port}: {e.Message}", e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await gate.WaitAsync();
        try
        {
            Drop();
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<SshClient> ConnectedAsync(CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try
        {
            if (ssh is { IsConnected: true })
            {
                return ssh;
            }

            var reconnect = ssh is not null;
            Drop();
            Exception? last = null;
            for (var attempt = 0; attempt < 4; attempt++)
            {
                if (attempt > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << attempt)), ct);
                }

                var client = new SshClient(Connection());
                client.HostKeyReceived += CheckHostKey;
                client.KeepAliveInterval = TimeSpan.FromSeconds(15);
                try
                {
                    await client.ConnectAsync(ct);
                    ssh = client;
                    if (reconnect)
                    {
                        Reconnects++;
                    }

                    return client;
                }
                catch (SshConnectionException) when (presentedFingerprint is not null && !HostKeyMatches(presentedFingerprint, null))
                {
                    client.Dispose();
                    throw Mismatch();
                }
                catch (Exception e) when (e is SshConnectionException or SocketException or SshOperationTimeoutException or ProxyException)
                {
                    client.Dispose();
                    last = e;
                }
                catch (SshAuthenticationException e)
                {
                    client.Dispose();
                    throw new TestbedException($"{name}: SSH authentication as {spec.User}@{spec.Address}:{spec.Port} failed ({e.Message}); check the key", e);
                }
            }

            throw new IOException($"{name}: cannot reach {spec.Address}:{spec.Port} over SSH: {last?.Message}", last);
        }
        finally
        {
            gate.Release();
        }
    }

    private async Task<SftpClient> SftpAsync(CancellationToken ct)
    {
        await gate.WaitAsync(ct);
        try
        {
            if (sftp is { IsConnected: true })
            {
                return sftp;
            }

            sftp?.Dispose();
            var client = new SftpClient(Connection());
            client.HostKeyReceived += CheckHostKey;
            await client.ConnectAsync(ct);
            sftp = client;
            return client;
        }
        finally
        {
            gate.Release();
        }
    }

    private ConnectionInfo Connection()
    {
        var keyPath = spec.KeyFile ?? DefaultKey();
        keyPath = keyPath.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), keyPath[2..]) : keyPath;
        if (!File.Exists(keyPath))
        {
            throw new TestbedException($"{name}: SSH key {keyPath} does not exist");
        }

        return new ConnectionInfo(spec.Address!, spec.Port, spec.User!, new PrivateKeyAuthenticationMethod(spec.User!, new PrivateKeyFile(keyPath)))
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    private static readonly string[] DefaultKeyNames = ["id_ed25519", "id_ecdsa", "id_rsa"];

    private static string DefaultKey()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return DefaultKeyNames.Select(k => Path.Combine(home, ".ssh", k)).FirstOrDefault(File.Exists)
            ?? Path.Combine(home, ".ssh", "id_ed25519");
    }

    private void CheckHostKey(object? sender, HostKeyEventArgs e)
    {
        presentedFingerprint = e.FingerPrintSHA256;
        e.CanTrust = HostKeyMatches(e.FingerPrintSHA256, e.HostKey);
    }

    private bool HostKeyMatches(string fingerprint, byte[]? blob)
    {
        if (spec.HostKeyFingerprint is { } pinned)
        {
            return string.Equals(pinned.Replace("SHA256:", "", StringComparison.Ordinal).TrimEnd('='), fingerprint, StringComparison.Ordinal);
        }

        if (spec.KnownHostsFile is { } file && File.Exists(file))
        {
            foreach (var line in File.ReadLines(file))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length < 3 || parts[0].StartsWith('#') || !HostMatches(parts[0]))
                {
                    continue;
                }

                try
                {
                    var keyBlob = Convert.FromBase64String(parts[2]);
                    var keyFingerprint = Convert.ToBase64String(SHA256.HashData(keyBlob)).TrimEnd('=');
                    if (keyFingerprint == fingerprint || (blob is not null && keyBlob.AsSpan().SequenceEqual(blob)))
                    {
                        return true;
                    }
                }
                catch (FormatException)
                {
                }
            }
        }

        return false;
    }

    private bool HostMatches(string field)
    {
        var names = spec.Port == 22 ? new[] { spec.Address!, $"[{spec.Address}]:22" } : [$"[{spec.Address}]:{spec.Port}"];
        foreach (var entry in field.Split(','))
        {
            if (entry.StartsWith("|1|", StringComparison.Ordinal))
            {
                // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, host)). SHA-1 is OpenSSH's format for hiding host names in
                // known_hosts, not a security choice of ours: a match is only a lookup; the key itself is compared in full.
#pragma warning disable CA5350
                var bits = entry.Split('|');
                if (bits.Length == 4)
                {
                    var salt = Convert.FromBase64String(bits[2]);
                    if (names.Any(n => Convert.ToBase64String(HMACSHA1.HashData(salt, Encoding.ASCII.GetBytes(n))) == bits[3]))
#pragma warning restore CA5350
                    {
                        return true;
                    }
                }
            }
            else if (names.Contains(entry))
            {
                return true;
            }
        }

        return false;
    }

    private HostKeyMismatchException Mismatch()
    {
        var expected = spec.HostKeyFingerprint is { } p ? $"the testbed pins {p}" : $"no matching key for {spec.Address}:{spec.Port} in {spec.KnownHostsFile}";
        return new HostKeyMismatchException($"{name}: host key of {spec.Address}:{spec.Port} is SHA256:{presentedFingerprint}, {expected}; refusing to connect");
    }

    private void Drop()
    {
        ssh?.Dispose();
        ssh = null;
        sftp?.Dispose();
        sftp = null;
    }

    private static int SignalNumber(string signal) => signal switch
    {
        "HUP" => 1,
        "INT" => 2,
        "KILL" => 9,
        "TERM" => 15,
        "PIPE" => 13,
        _ => 0,
    };
}
