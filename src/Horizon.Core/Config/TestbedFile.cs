using System.Collections.Immutable;

namespace Horizon.Config;

/// <summary>Reads a testbed file. The format: docs/files.md, "Testbed file".</summary>
public static class TestbedFile
{
    public const string DefaultName = "(embedded default testbed)";

    /// <summary>This machine as one native guest, reached without SSH.</summary>
    public static string DefaultYaml(int vcpus) => $"""
        testbed: this-machine
        probes:
          address: 127.0.0.1
        hosts:
          - name: localhost
            platform: native
            transport: local
        guests:
          - name: native
            host: localhost
            platform: native
            vcpus: {vcpus}
            transport: local
        """;

    public static Testbed Default() => Parse(DefaultName, DefaultYaml(Environment.ProcessorCount));

    public static Testbed Load(string path)
    {
        return Parse(path, YamlFields.ReadFile(path));
    }

    public static Testbed Parse(string file, string text)
    {
        var root = new YamlFields(file, "", YamlFields.LoadDocument(file, text));
        var name = root.RequireString("testbed");
        var probeAddress = "127.0.0.1";
        var probePort = 0;
        string? probeNamespace = null;
        if (root.TryGet("probes", out var probesNode))
        {
            var probes = new YamlFields(file, "probes", probesNode);
            probeAddress = probes.OptionalString("address") ?? probeAddress;
            if (!System.Net.IPAddress.TryParse(probeAddress, out _))
            {
                throw probes.Error("address", $"expected an IPv4 address guests can send probes to, got '{probeAddress}'");
            }

            probePort = probes.OptionalInt("port", 0, 0, 65535);
            probeNamespace = probes.OptionalString("netns");
            probes.RejectUnknown();
        }

        var hosts = new List<TestHost>();
        var hostNodes = root.OptionalSequence("hosts");
        for (var i = 0; i < hostNodes.Count; i++)
        {
            var h = new YamlFields(file, $"hosts[{i}]", hostNodes[i]);
            var hostName = RequireName(h, "name");
            if (hosts.Any(x => x.Name == hostName))
            {
                throw h.Error("name", $"host '{hostName}' is defined twice");
            }

            var platform = h.OptionalEnum("platform", Platform.Native, Names.Platforms);
            var transport = ReadTransport(h, guest: false);
            var controlCpus = h.OptionalInt("control_cpus", 1, 0, 4096);
            var vsphere = ReadVSphere(h, platform);
            h.RejectUnknown();
            hosts.Add(new TestHost(hostName, platform, transport, (int)hostNodes[i].Start.Line) { ControlCpus = controlCpus, VSphere = vsphere });
        }

        var guests = new List<GuestSpec>();
        var guestNodes = root.OptionalSequence("guests");
        if (guestNodes.Count == 0)
        {
            throw root.Error("guests", "a testbed needs at least one guest");
        }

        for (var i = 0; i < guestNodes.Count; i++)
        {
            var g = new YamlFields(file, $"guests[{i}]", guestNodes[i]);
            var guestName = RequireName(g, "name");
            if (guests.Any(x => x.Name == guestName))
            {
                throw g.Error("name", $"guest '{guestName}' is defined twice");
            }

            var hostName = g.RequireString("host");
            var host = hosts.FirstOrDefault(x => x.Name == hostName)
                ?? throw g.Error("host", $"no host named '{hostName}' in 'hosts'{(hosts.Count > 0 ? $" (known: {string.Join(", ", hosts.Select(x => x.Name))})" : "")}");
            var platform = g.OptionalEnum("platform", host.Platform, Names.Platforms);
            var vcpus = g.OptionalInt("vcpus", 1, 1, 4096);
            var transport = ReadTransport(g, guest: true);
            var workdir = g.OptionalString("workdir") ?? "/var/tmp/horizon";
            if (!workdir.StartsWith('/'))
            {
                throw g.Error("workdir", $"must be an absolute path, got '{workdir}'");
            }

            var wrapper = g.OptionalStringList("wrapper").ToImmutableArray();
            var instance = g.OptionalString("instance");
            var lxcPath = g.OptionalString("lxc_path");
            var qmp = g.OptionalString("qmp");
            var engine = g.OptionalString("engine");
            if (engine is not null && platform is not (Platform.Docker or Platform.Podman or Platform.Kvm))
            {
                throw g.Error("engine", $"is for docker, podman and kvm guests (the engine's or virsh's command); '{guestName}' is {Names.Of(platform)}");
            }

            if (engine is not null && engine.Trim().Length == 0)
            {
                throw g.Error("engine", "is empty: give the engine's command, e.g. `docker -H unix:///run/docker.sock`");
            }
            if (lxcPath is not null && platform != Platform.Lxc)
            {
                throw g.Error("lxc_path", $"is for lxc guests; '{guestName}' is {Names.Of(platform)}");
            }

            if (qmp is not null && platform != Platform.Qemu)
            {
                throw g.Error("qmp", $"is for qemu guests; '{guestName}' is {Names.Of(platform)}");
            }

            ForwardPath? forward = null;
            if (g.TryGet("forward", out var forwardNode))
            {
                var f = new YamlFields(file, g.FieldPath("forward"), forwardNode);
                var sink = f.RequireString("sink");
                if (!System.Net.IPAddress.TryParse(sink, out var sinkAddress) || sinkAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                {
                    throw f.Error("sink", $"expected the sink's IPv4 address on the guest's output link, got '{sink}'");
                }

                string? Netns(string key) => f.OptionalString(key) is { } v
                    ? v.Length <= 64 && v.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && v[0] != '.'
                        ? v
                        : throw f.Error(key, $"'{v}' is not a network namespace name (letters, digits, '-', '_', '.')")
                    : null;
                forward = new ForwardPath(sink, Netns("source_netns"), Netns("sink_netns"));
                f.RejectUnknown();
            }

            g.RejectUnknown();
            guests.Add(new GuestSpec(guestName, hostName, platform, vcpus, transport, workdir, wrapper, (int)guestNodes[i].Start.Line)
            {
                Instance = instance,
                LxcPath = lxcPath,
                Qmp = qmp,
                Forward = forward,
                Engine = engine?.Trim(),
            });
        }

        NetworkPeer? peer = null;
        if (root.TryGet("peer", out var peerNode))
        {
            var p = new YamlFields(file, "peer", peerNode);
            var peerName = RequireName(p, "name");
            var transport = ReadTransport(p, guest: false);
            var data = p.RequireString("address");
            p.RejectUnknown();
            peer = new NetworkPeer(peerName, transport, data);
        }

        root.RejectUnknown();
        return new Testbed(name, file, probeAddress, probePort, probeNamespace, [.. hosts], [.. guests], peer);
    }

    private static string RequireName(YamlFields f, string key)
    {
        var value = f.RequireString(key);
        if (value.Length == 0 || value.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw f.Error(key, $"'{value}' is not a valid name (letters, digits, '-', '_', '.')");
        }

        return value;
    }

    private static VSphereAccess? ReadVSphere(YamlFields h, Platform platform)
    {
        if (!h.TryGet("vsphere", out var node))
        {
            return null;
        }

        if (platform != Platform.VmwareEsxi)
        {
            throw h.Error("vsphere", $"is for vmware-esxi hosts; this host is {Names.Of(platform)}");
        }

        var v = new YamlFields(h.File, h.FieldPath("vsphere"), node);
        var url = v.RequireString("url");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
        {
            throw v.Error("url", $"expected the SDK's https URL (https://HOST/sdk), got '{url}'");
        }

        if (uri.UserInfo.Length > 0)
        {
            throw v.Error("url", "holds credentials: give the user as `user` and the password as password_env or password_file (a URL is stored with the results)");
        }

        var user = v.RequireString("user");
        var env = v.OptionalString("password_env");
        var file = v.OptionalString("password_file");
        if ((env is null) == (file is null))
        {
            throw v.Error("password_env", "give exactly one of password_env (an environment variable's name) or password_file (a file holding the password); never the password itself");
        }

        if (env is not null && !System.Text.RegularExpressions.Regex.IsMatch(env, "^[A-Za-z_][A-Za-z0-9_]*$"))
        {
            throw v.Error("password_env", $"'{env}' is not an environment variable's name");
        }

        if (file is not null && !file.StartsWith('/'))
        {
            throw v.Error("password_file", $"must be an absolute path, got '{file}'");
        }

        var access = new VSphereAccess(url, user, env, file, v.OptionalBool("insecure", false), v.OptionalString("host"));
        v.RejectUnknown();
        return access;
    }

    /// <summary>The exec transport's shorthands: the engine's own command to open a shell in the guest.</summary>
    private static readonly Dictionary<string, string[]> ExecShorthands = new(StringComparer.Ordinal)
    {
        ["docker"] = ["docker", "exec", "-i", "{instance}"],
        ["podman"] = ["podman", "exec", "-i", "{instance}"],
        ["lxc"] = ["lxc-attach", "-n", "{instance}", "--"],
    };

    private static TransportSpec ReadTransport(YamlFields f, bool guest)
    {
        var kind = f.OptionalEnum("transport", TransportKind.Local, Names.Transports);
        if (kind == TransportKind.Exec || f.TryGet("exec", out _))
        {
            if (!guest)
            {
                throw f.Error("transport", "exec is for guests (a container's shell); a host or peer is reached locally or over ssh");
            }

            if (kind != TransportKind.Exec)
            {
                throw f.Error("exec", "is given but transport is not exec; set transport: exec");
            }

            if (!f.TryGet("exec", out var execNode))
            {
                throw f.Error("exec", "is required when transport is exec: docker, podman, lxc, or the command as a list, e.g. [docker, -H, unix:///run/d.sock, exec, -i, \"{instance}\"]");
            }

            ImmutableArray<string> command;
            if (execNode is YamlDotNet.RepresentationModel.YamlScalarNode scalar)
            {
                command = ExecShorthands.TryGetValue(scalar.Value ?? "", out var shorthand) ? [.. shorthand]
                    : throw f.Error("exec", $"'{scalar.Value}' is not docker, podman or lxc; give any other command as a list");
            }
            else
            {
                command = f.OptionalStringList("exec").ToImmutableArray();
                if (command.IsEmpty || command.Any(string.IsNullOrWhiteSpace))
                {
                    throw f.Error("exec", "the command list is empty or has an empty word");
                }
            }

            return TransportSpec.Local with { Kind = TransportKind.Exec, Exec = command };
        }

        if (!f.TryGet("ssh", out var sshNode))
        {
            if (kind == TransportKind.Ssh)
            {
                throw f.Error("ssh", "is required when transport is ssh (address, user, key, host_key or known_hosts)");
            }

            return TransportSpec.Local;
        }

        var s = new YamlFields(f.File, f.FieldPath("ssh"), sshNode);
        var spec = new TransportSpec(
            TransportKind.Ssh,
            s.RequireString("address"),
            s.OptionalInt("port", 22, 1, 65535),
            s.RequireString("user"),
            s.OptionalString("key"),
            s.OptionalString("host_key"),
            s.OptionalString("known_hosts"));
        if (spec.HostKeyFingerprint is null && spec.KnownHostsFile is null)
        {
            throw s.Error(sshNode, s.Path, "needs host_key (SHA256:… fingerprint) or known_hosts: host keys are always pinned");
        }

        s.RejectUnknown();
        return kind == TransportKind.Ssh ? spec : throw f.Error("transport", "is 'local' but an 'ssh' section is given; set transport: ssh");
    }
}
