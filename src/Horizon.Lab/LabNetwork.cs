using Horizon.Config;

namespace Horizon.Lab;

/// <summary>
/// The lab's network plumbing: namespaces (recorded before they exist, so a crash leaves nothing unrecorded), veth and
/// MAC names of its own, a loopback port per machine that leads to its sshd, and waiting for an sshd to answer.
/// </summary>
internal static class LabNetwork
{
    public static async Task NamespaceAsync(LabSession lab, string ns, CancellationToken ct)
    {
        if (File.Exists($"/run/netns/{ns}"))
        {
            throw new LabException($"network namespace {ns} already exists (another lab of this name?); remove it or pick another --name");
        }

        lab.State.Namespaces.Add(ns);
        lab.Save();
        await Shell.Must($"ip netns add {ns}", ct);
    }

    /// <summary>A loopback port that leads to a machine's sshd inside the lab (socat; each connection enters the namespace).</summary>
    public static int SshForwarder(LabSession lab, string name, string ns, string address)
    {
        var port = Shell.FreePort();
        var forwarder = Shell.Spawn($"exec socat TCP4-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:'ip netns exec {ns} socat STDIO TCP4\\:{address}\\:22'");
        lab.State.Processes.Add(new LabProcess(forwarder, $"TCP4-LISTEN:{port}", $"{name} ssh forwarder"));
        return port;
    }

    public static async Task WaitForSshAsync(LabMachine m, CancellationToken ct)
    {
        // Emulated machines boot for minutes (QEMU under TCG; Xen nested in it), containers and namespaces in seconds.
        var seconds = m.Platform == Names.Of(Platform.Qemu) ? 180 : m.Platform == Names.Of(Platform.Xen) || m.Platform == XenBuilder.Dom0 ? 300 : 30;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (DateTime.UtcNow < until)
        {
            if (await Shell.Sh($"ip netns exec {m.Namespace} timeout 5 bash -c 'exec 3<>/dev/tcp/{m.Address}/22 && read -t 4 banner <&3' 2>/dev/null", ct) == 0)
            {
                return;
            }

            await Task.Delay(100, ct);
        }

        throw new LabException($"sshd of {m.Name} ({m.Address}) did not answer");
    }

    public static string Veth(LabSpec spec, int host, int index) => $"hz{spec.Subnet}l{host}x{index}";

    /// <summary>
    /// A MAC address of the VM's own. QEMU gives every NIC 52:54:00:12:34:56 unless told otherwise; two VMs on one bridge
    /// then take turns owning it and lose each other's packets (seen here as SSH stalls of up to 30 s).
    /// </summary>
    public static string Mac(LabSpec spec, int host, int index, int nic = 0) => $"52:54:{nic & 0xff:x2}:{spec.Subnet & 0xff:x2}:{host & 0xff:x2}:{index & 0xff:x2}";
}
