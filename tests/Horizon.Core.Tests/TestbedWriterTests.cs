using Horizon.Config;

namespace Horizon.Core.Tests;

public sealed class TestbedWriterTests
{
    private static Testbed Sample(string key, string workdir, string sink) => new(
        "lab-x", "ignored.yaml", "10.77.0.1", 7301, "hz-x-ctl",
        [
            new TestHost("host1", Platform.Native, new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40022, "root", key, "SHA256:abc+/def="), 0),
            new TestHost("xen1", Platform.Xen, new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40023, "root", null, null, "/tmp/known hosts"), 0) { ControlCpus = 2 },
        ],
        [
            new GuestSpec("host1-native", "host1", Platform.Native, 1, new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40022, "root", key, "SHA256:abc+/def="), workdir, [], 0)
            {
                Forward = new ForwardPath(sink, "hz-x-f1s", "hz-x-f1k"),
            },
            new GuestSpec("local", "host1", Platform.Native, 2, TransportSpec.Local, "/var/tmp/horizon", ["faketime", "-f", "-3600 x2"], 0),
            new GuestSpec("xen1-domu1", "xen1", Platform.Xen, 1, new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40024, "root", key, "SHA256:x"), "/var/tmp/horizon", [], 0) { Instance = "domu1" },
            new GuestSpec("c1", "host1", Platform.Lxc, 1, TransportSpec.Local, "/var/tmp/horizon", [], 0) { LxcPath = "/tmp/lab dir/lxc" },
            new GuestSpec("vm1", "host1", Platform.Qemu, 1, TransportSpec.Local, "/var/tmp/horizon", [], 0) { Qmp = "/tmp/lab: dir/qmp.sock" },
        ],
        new NetworkPeer("peer", new TransportSpec(TransportKind.Ssh, "127.0.0.1", 40025, "root", key, "SHA256:p"), "10.77.0.2"));

    [Theory]
    [InlineData("/work/lab/client_ed25519", "/var/tmp/horizon-lab-x/host1", "10.79.1.2")]
    [InlineData("/tmp/a dir/#key: 'quoted' \"too\"", "/var/tmp/with space/and: colon", "10.79.1.2")]
    [InlineData("*star & anchor? [x] {y}", "/var/tmp/- dash", "10.79.1.2")]
    public void A_written_testbed_reads_back_as_the_same_model(string key, string workdir, string sink)
    {
        var written = TestbedWriter.Write(Sample(key, workdir, sink), "written by a test\nsecond line");
        var back = TestbedFile.Parse("written.yaml", written);
        var original = Sample(key, workdir, sink);
        Assert.Equal(original.Name, back.Name);
        Assert.Equal((original.ProbeAddress, original.ProbePort, original.ProbeNetworkNamespace), (back.ProbeAddress, back.ProbePort, back.ProbeNetworkNamespace));
        Assert.Equal(original.Hosts.Select(h => (h.Name, h.Platform, h.Transport, h.ControlCpus)), back.Hosts.Select(h => (h.Name, h.Platform, h.Transport, h.ControlCpus)));
        Assert.Equal(
            original.Guests.Select(g => (g.Name, g.Host, g.Platform, g.Vcpus, g.Transport, g.Workdir, string.Join('|', g.Wrapper), g.Instance, g.LxcPath, g.Qmp, g.Forward)),
            back.Guests.Select(g => (g.Name, g.Host, g.Platform, g.Vcpus, g.Transport, g.Workdir, string.Join('|', g.Wrapper), g.Instance, g.LxcPath, g.Qmp, g.Forward)));
        Assert.Equal(original.Peer, back.Peer);

        // Written again from what was read, the text is the same: nothing is lost or reordered.
        Assert.Equal(written, TestbedWriter.Write(back, "written by a test\nsecond line"));
        Assert.StartsWith("# written by a test\n# second line\n", written, StringComparison.Ordinal);
    }
}
