namespace Horizon.Lab;

/// <summary>
/// Forwarding paths (the forward workload): per guest a source and a sink namespace on the peer's side, links to the
/// guest, and the routes that send the benchmark range through it.
/// </summary>
internal static class ForwardingPaths
{
    /// <summary>Names of a forwarding path's interfaces outside the guest: s/k the source's and sink's ends, i/o the guest side on its host.</summary>
    public static string Interface(LabSpec spec, LabForwardPath path, char end) => $"hz{spec.Subnet}f{end}{path.Index}";

    public static LabForwardPath Next(LabSpec spec, LabState state, string guest)
    {
        var j = state.Forward.Count + 1;
        var path = new LabForwardPath(j, Namespace(spec, j, 's'), Namespace(spec, j, 'k'), $"10.{spec.Subnet + 1}.{j}.1", $"10.{spec.Subnet + 2}.{j}.1", $"10.{spec.Subnet + 2}.{j}.2");
        state.Forward[guest] = path;
        return path;
    }

    /// <summary>The source and sink namespaces of path j, with the direct source→sink link the generator's ceiling is measured on.</summary>
    public static async Task NamespacesAsync(LabSession lab, int j, CancellationToken ct)
    {
        var spec = lab.Spec;
        string src = Namespace(spec, j, 's'), snk = Namespace(spec, j, 'k'), direct = $"10.{spec.Subnet + 3}.{j}";
        await LabNetwork.NamespaceAsync(lab, src, ct);
        await LabNetwork.NamespaceAsync(lab, snk, ct);
        await Shell.Must($"ip -n {src} link set lo up && ip -n {snk} link set lo up && " +
                   $"ip -n {src} link add hzdirect type veth peer name hzdirect netns {snk} && " +
                   $"ip -n {src} addr add {direct}.1/24 dev hzdirect && ip -n {snk} addr add {direct}.2/24 dev hzdirect && " +
                   $"ip -n {src} link set hzdirect up && ip -n {snk} link set hzdirect up && " +
                   $"ip -n {src} route add 192.0.2.0/24 via {direct}.2 && " +
                   // The sink takes every routed destination as its own (AnyIP), so one socket counts them all.
                   $"ip -n {snk} route add local 192.0.2.0/24 dev lo && ip -n {snk} route add local 198.18.0.0/15 dev lo && " +
                   $"ip netns exec {snk} sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0", ct);
    }

    /// <summary>Addresses the source's and sink's link ends and routes the benchmark range through the guest.</summary>
    public static async Task RoutesAsync(LabSpec spec, LabForwardPath path, CancellationToken ct)
    {
        string s = Interface(spec, path, 's'), k = Interface(spec, path, 'k');
        await Shell.Must($"ip -n {path.SourceNetns} addr add 10.{spec.Subnet + 1}.{path.Index}.2/24 dev {s} && ip -n {path.SourceNetns} link set {s} up && " +
                   $"ip -n {path.SinkNetns} addr add {path.Sink}/24 dev {k} && ip -n {path.SinkNetns} link set {k} up && " +
                   $"ip -n {path.SourceNetns} route add 198.18.0.0/15 via {path.GuestIn} && " +
                   $"ip -n {path.SinkNetns} route add 10.{spec.Subnet + 1}.{path.Index}.0/24 via {path.GuestOut}", ct);
    }

    private static string Namespace(LabSpec spec, int index, char end) => spec.Namespace($"f{index}{end}");
}
