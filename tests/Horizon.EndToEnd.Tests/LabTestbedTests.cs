using Horizon.Config;
using Horizon.Lab;

namespace Horizon.EndToEnd.Tests;

/// <summary>The testbed file a lab writes, from a recorded lab state (no namespaces needed): every machine kind, read back.</summary>
public sealed class LabTestbedTests
{
    [Fact]
    public void Every_machine_of_a_lab_becomes_the_host_or_guest_its_platform_adapter_needs()
    {
        var spec = new LabSpec("t", Hosts: 1, Subnet: 80);
        var state = new LabState
        {
            Name = "t",
            Machines =
            [
                new("host1", "hz-t-host1", "10.80.0.10", 40010, "SHA256:h1", false),
                new("peer", "hz-t-peer", "10.80.0.2", 40002, "SHA256:p", true),
                new("host1-lxc1", "hz-t-host1", "10.80.0.101", 40101, "SHA256:l", false, "lxc", "host1"),
                new("host1-qemu1", "hz-t-host1", "10.80.0.151", 40151, "SHA256:q", false, "qemu", "host1"),
                new(LabManager.XenHostName, "hz-t-host1", "10.80.0.200", 40200, "SHA256:x", false, LabManager.XenDom0),
                new($"{LabManager.XenHostName}-domu1", "hz-t-host1", "10.80.0.201", 40201, "SHA256:d", false, "xen", LabManager.XenHostName),
            ],
            Forward = { ["host1-lxc1"] = new LabForwardPath(1, "hz-t-f1s", "hz-t-f1k", "10.81.1.1", "10.82.1.1", "10.82.1.2") },
        };
        var yaml = LabTestbed.Yaml(spec, state, "/lab dir/client_ed25519", "/lab dir/t");
        var testbed = TestbedFile.Parse("testbed.yaml", yaml);

        Assert.Equal("lab-t", testbed.Name);
        Assert.Equal(("10.80.0.1", "hz-t-ctl"), (testbed.ProbeAddress, testbed.ProbeNetworkNamespace));
        Assert.Equal([("host1", Platform.Native, 1), ("xen1", Platform.Xen, 1)], testbed.Hosts.Select(h => (h.Name, h.Platform, h.ControlCpus)));
        var native = testbed.Guest("host1-native");
        Assert.Equal(("host1", Platform.Native, "/var/tmp/horizon-lab-t/host1"), (native.Host, native.Platform, native.Workdir));
        Assert.Equal(new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40010, "root", "/lab dir/client_ed25519", "SHA256:h1"), native.Transport);
        var lxc = testbed.Guest("host1-lxc1");
        Assert.Equal((Platform.Lxc, "/lab dir/t/lxc", "host1-lxc1"), (lxc.Platform, lxc.LxcPath, lxc.Instance));
        Assert.Equal(new ForwardPath("10.82.1.2", "hz-t-f1s", "hz-t-f1k"), lxc.Forward);
        var qemu = testbed.Guest("host1-qemu1");
        Assert.Equal((Platform.Qemu, "/lab dir/t/qemu/host1-qemu1/qmp.sock"), (qemu.Platform, qemu.Qmp));
        var domu = testbed.Guest("xen1-domu1");
        Assert.Equal(("xen1", Platform.Xen, "domu1"), (domu.Host, domu.Platform, domu.Instance));
        Assert.Equal(("peer", "10.80.0.2", 40002), (testbed.Peer!.Name, testbed.Peer.DataAddress, testbed.Peer.Transport.Port));
        Assert.Equal(4, testbed.Guests.Length);
    }
}
