namespace Horizon.Lab;

/// <summary>What a lab is made of.</summary>
public sealed record LabSpec(string Name = "hz", int Hosts = 1, bool Peer = true, int Subnet = 77, int LxcGuests = 0, string? Rootfs = null, int QemuGuests = 0, string? VmKernel = null)
{
    /// <summary>A nested Xen host (Xen 4.17 under QEMU, dom0 over SSH) with this many PV domUs; 0 = none.</summary>
    public int XenGuests { get; init; }

    /// <summary>The dom0 image and hypervisor built by scripts/build-xen.sh.</summary>
    public string? XenImage { get; init; }

    /// <summary>Docker containers per host (the lab's own dockerd), reached with `docker exec`.</summary>
    public int DockerGuests { get; init; }

    /// <summary>Podman containers per host (runc, the lab's own storage), reached with `podman exec`.</summary>
    public int PodmanGuests { get; init; }

    /// <summary>libvirt domains (type='qemu', TCG) per host, through the lab's own libvirtd: the kvm platform's tool chain.</summary>
    public int LibvirtGuests { get; init; }

    /// <summary>Gives every guest a forwarding path: a link from a traffic source and a link to a sink (the forward workload).</summary>
    public bool Forward { get; init; }

    public string Namespace(string role) => $"hz-{Name}-{role}";

    public string Address(int index) => $"10.{Subnet}.0.{index}";

    /// <summary>The controller's address in the lab (its namespace "ctl", on the lab's bridge): where guests send their probes.</summary>
    public string ProbeAddress => Address(1);
}
