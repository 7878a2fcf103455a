namespace Horizon.Lab;

/// <summary>What every lab machine's sshd and root start from: the lab's own sshd config, a guest root with its keys.</summary>
public static class GuestRoots
{
    /// <summary>An sshd of the lab's own: key-only, one host key, its files in the lab directory (no PAM, no system config).</summary>
    public static string SshdConfig(string listenAddress, int port, string hostKey, string pidFile, string authorizedKeys) => $"""
        ListenAddress {listenAddress}
        Port {port}
        HostKey {hostKey}
        PidFile {pidFile}
        AuthorizedKeysFile {authorizedKeys}
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        PermitRootLogin prohibit-password
        Subsystem sftp internal-sftp
        LogLevel ERROR
        MaxStartups 50
        """;

    /// <summary>A guest's root: a copy of the cached rootfs with its own host key and the lab's client key; returns the key's fingerprint.</summary>
    internal static async Task<string> CopyAsync(string rootfsCache, string root, string labDir, CancellationToken ct)
    {
        await Shell.Must($"cp -a --reflink=auto {rootfsCache} {root}", ct);
        await Shell.Must($"chroot {root} ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key", ct);
        System.IO.Directory.CreateDirectory($"{root}/root/.ssh");
        File.Copy(Path.Combine(labDir, "authorized_keys"), $"{root}/root/.ssh/authorized_keys", overwrite: true);
        await File.WriteAllTextAsync($"{root}/etc/ssh/sshd_config.d/horizon.conf", "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nHostKey /etc/ssh/ssh_host_ed25519_key\n" +
            // Software-emulated guests (a Xen domU under nested TCG) authenticate slowly: the controller's sessions, tool
            // checks and followers must not be turned away as too many unauthenticated startups or sessions.
            "MaxStartups 100\nMaxSessions 100\nLoginGraceTime 600\n", ct);
        return (await Shell.Output($"ssh-keygen -lf {root}/etc/ssh/ssh_host_ed25519_key.pub", ct)).Split(' ')[1];
    }
}
