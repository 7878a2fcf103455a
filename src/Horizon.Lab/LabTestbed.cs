using Horizon.Config;

namespace Horizon.Lab;

/// <summary>The testbed of a lab that is up: built as a model from its machines, written by <see cref="TestbedWriter"/>.</summary>
public static class LabTestbed
{
    public static Testbed Build(LabSpec spec, LabState state, string clientKey, string labDirectory)
    {
        TransportSpec Ssh(LabMachine m) => new(TransportKind.Ssh, "127.0.0.1", m.SshPort, "root", clientKey, m.HostKeyFingerprint);
        ForwardPath? Forward(LabMachine m) => state.Forward.TryGetValue(m.Name, out var p) ? new ForwardPath(p.Sink, p.SourceNetns, p.SinkNetns) : null;
        var native = Names.Of(Platform.Native);
        var xen = Names.Of(Platform.Xen);
        var hosts = new List<TestHost>();
        var guests = new List<GuestSpec>();
        foreach (var m in state.Machines.Where(m => !m.IsPeer && m.Platform == native))
        {
            hosts.Add(new TestHost(m.Name, Platform.Native, Ssh(m), 0));
        }

        foreach (var m in state.Machines.Where(m => m.Platform == XenBuilder.Dom0))
        {
            // The Xen host is its dom0: xl runs there. One of its two CPUs stays with dom0 under `exclusive`, as in the study.
            hosts.Add(new TestHost(m.Name, Platform.Xen, Ssh(m), 0) { ControlCpus = 1 });
        }

        foreach (var m in state.Machines.Where(m => !m.IsPeer && m.Platform == native))
        {
            guests.Add(new GuestSpec($"{m.Name}-native", m.Name, Platform.Native, 1, Ssh(m), $"/var/tmp/horizon-lab-{spec.Name}/{m.Name}", [], 0) { Forward = Forward(m) });
        }

        foreach (var m in state.Machines.Where(m => m.Platform == xen))
        {
            guests.Add(new GuestSpec(m.Name, m.Host!, Platform.Xen, 1, Ssh(m), "/var/tmp/horizon", [], 0) { Instance = m.Name[(m.Host!.Length + 1)..] });
        }

        foreach (var m in state.Machines.Where(m => m.Platform == Names.Of(Platform.Lxc) || m.Platform == Names.Of(Platform.Qemu)))
        {
            // What the platform adapters need on the host: the container path, or the VM's QMP socket.
            var lxc = m.Platform == Names.Of(Platform.Lxc);
            guests.Add(new GuestSpec(m.Name, m.Host!, lxc ? Platform.Lxc : Platform.Qemu, 1, Ssh(m), "/var/tmp/horizon", [], 0)
            {
                Instance = m.Name,
                LxcPath = lxc ? Path.Combine(labDirectory, "lxc") : null,
                Qmp = lxc ? null : Path.Combine(labDirectory, "qemu", m.Name, "qmp.sock"),
                Forward = Forward(m),
            });
        }

        foreach (var m in state.Machines.Where(m => m.Platform == Names.Of(Platform.Kvm)))
        {
            // Over SSH like the QEMU guests; the kvm adapter pins and reads back through the lab's own libvirtd.
            guests.Add(new GuestSpec(m.Name, m.Host!, Platform.Kvm, 1, Ssh(m), "/var/tmp/horizon", [], 0) { Instance = m.Name, Engine = m.Engine });
        }

        foreach (var m in state.Machines.Where(m => m.Platform is "docker" or "podman"))
        {
            // No sshd in them: the exec transport through the lab's own engine, which also applies and reads back the schemes.
            var exec = new TransportSpec(TransportKind.Exec) { Exec = [.. m.Engine!.Split(' '), "exec", "-i", "{instance}"] };
            guests.Add(new GuestSpec(m.Name, m.Host!, m.Platform == "docker" ? Platform.Docker : Platform.Podman, 1, exec, "/var/tmp/horizon", [], 0)
            {
                Instance = m.Name,
                Engine = m.Engine,
            });
        }

        var peer = state.Machines.FirstOrDefault(m => m.IsPeer) is { } p ? new NetworkPeer(p.Name, Ssh(p), p.Address) : null;
        return new Testbed($"lab-{spec.Name}", Path.Combine(labDirectory, "testbed.yaml"), spec.ProbeAddress, 0, spec.Namespace("ctl"), [.. hosts], [.. guests], peer);
    }

    public static string Yaml(LabSpec spec, LabState state, string clientKey, string labDirectory) =>
        TestbedWriter.Write(Build(spec, state, clientKey, labDirectory), $"written by `horizon lab up --name {spec.Name}`; removed by `horizon lab down --name {spec.Name}`");
}
