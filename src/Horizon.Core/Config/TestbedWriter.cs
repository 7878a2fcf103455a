using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Horizon.Config;

/// <summary>
/// Writes a testbed model as the YAML <see cref="TestbedFile"/> reads: fields at their defaults are left out, every
/// value is quoted by the YAML emitter as it needs (paths, fingerprints), so what is written reads back as the same model.
/// </summary>
public static class TestbedWriter
{
    public static string Write(Testbed testbed, string? comment = null)
    {
        var root = new YamlMappingNode { { "testbed", testbed.Name } };
        var probes = new YamlMappingNode { { "address", testbed.ProbeAddress } };
        if (testbed.ProbePort != 0)
        {
            probes.Add("port", Number(testbed.ProbePort));
        }

        if (testbed.ProbeNetworkNamespace is { } netns)
        {
            probes.Add("netns", netns);
        }

        root.Add("probes", probes);
        if (testbed.Hosts.Length > 0)
        {
            root.Add("hosts", new YamlSequenceNode(testbed.Hosts.Select(Host)));
        }

        root.Add("guests", new YamlSequenceNode(testbed.Guests.Select(Guest)));
        if (testbed.Peer is { } peer)
        {
            var p = new YamlMappingNode { { "name", peer.Name }, { "address", peer.DataAddress } };
            AddTransport(p, peer.Transport);
            root.Add("peer", p);
        }

        using var text = new StringWriter(CultureInfo.InvariantCulture);
        if (comment is not null)
        {
            foreach (var line in comment.Split('\n'))
            {
                text.WriteLine($"# {line}");
            }
        }

        new YamlStream(new YamlDocument(root)).Save(text, assignAnchors: false);
        return text.ToString();
    }

    private static YamlMappingNode Host(TestHost host)
    {
        var h = new YamlMappingNode { { "name", host.Name }, { "platform", Names.Of(host.Platform) } };
        if (host.ControlCpus != 1)
        {
            h.Add("control_cpus", Number(host.ControlCpus));
        }

        if (host.VSphere is { } v)
        {
            var m = new YamlMappingNode { { "url", v.Url }, { "user", v.User } };
            if (v.PasswordEnv is { } env)
            {
                m.Add("password_env", env);
            }

            if (v.PasswordFile is { } file)
            {
                m.Add("password_file", file);
            }

            if (v.Insecure)
            {
                m.Add("insecure", "true");
            }

            if (v.HostName is { } name)
            {
                m.Add("host", name);
            }

            h.Add("vsphere", m);
        }

        AddTransport(h, host.Transport);
        return h;
    }

    private static YamlMappingNode Guest(GuestSpec guest)
    {
        var g = new YamlMappingNode
        {
            { "name", guest.Name },
            { "host", guest.Host },
            { "platform", Names.Of(guest.Platform) },
            { "vcpus", Number(guest.Vcpus) },
            { "workdir", guest.Workdir },
        };
        if (guest.Instance is { } instance)
        {
            g.Add("instance", instance);
        }

        if (guest.LxcPath is { } lxcPath)
        {
            g.Add("lxc_path", lxcPath);
        }

        if (guest.Qmp is { } qmp)
        {
            g.Add("qmp", qmp);
        }

        if (guest.Engine is { } engine)
        {
            g.Add("engine", engine);
        }

        if (!guest.Wrapper.IsDefaultOrEmpty)
        {
            g.Add("wrapper", new YamlSequenceNode(guest.Wrapper.Select(w => new YamlScalarNode(w))));
        }

        if (guest.Forward is { } forward)
        {
            var f = new YamlMappingNode { { "sink", forward.Sink } };
            if (forward.SourceNetns is { } source)
            {
                f.Add("source_netns", source);
            }

            if (forward.SinkNetns is { } sink)
            {
                f.Add("sink_netns", sink);
            }

            g.Add("forward", f);
        }

        AddTransport(g, guest.Transport);
        return g;
    }

    private static void AddTransport(YamlMappingNode node, TransportSpec transport)
    {
        if (transport.Kind == TransportKind.Exec)
        {
            node.Add("transport", Names.Of(TransportKind.Exec));
            node.Add("exec", new YamlSequenceNode(transport.Exec.Select(w => new YamlScalarNode(w) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted })));
            return;
        }

        if (transport.Kind != TransportKind.Ssh)
        {
            return;
        }

        node.Add("transport", Names.Of(TransportKind.Ssh));
        var ssh = new YamlMappingNode { { "address", transport.Address! } };
        if (transport.Port != 22)
        {
            ssh.Add("port", Number(transport.Port));
        }

        ssh.Add("user", transport.User!);
        foreach (var (key, value) in new[] { ("key", transport.KeyFile), ("host_key", transport.HostKeyFingerprint), ("known_hosts", transport.KnownHostsFile) })
        {
            if (value is not null)
            {
                ssh.Add(key, value);
            }
        }

        node.Add("ssh", ssh);
    }

    private static YamlScalarNode Number(int value) => new(value.ToString(CultureInfo.InvariantCulture));
}
