using System.Text.Json;

namespace Horizon.Lab;

/// <summary>Everything a lab created, recorded on disk as it is created so `lab down` can remove it after a crash.</summary>
public sealed class LabState
{
    public string Name { get; set; } = "";

    public List<string> Namespaces { get; set; } = [];

    public List<LabProcess> Processes { get; set; } = [];

    public List<LabMachine> Machines { get; set; } = [];

    public List<LabContainer> Containers { get; set; } = [];

    /// <summary>Guests' forwarding paths (source and sink namespaces, the links' addresses), by guest name.</summary>
    public Dictionary<string, LabForwardPath> Forward { get; set; } = [];

    /// <summary>QEMU guests' vCPU thread ids on the host, from QMP (what CPU schemes pin).</summary>
    public Dictionary<string, List<int>> VcpuThreads { get; set; } = [];

    public string? TestbedFile { get; set; }

    /// <summary>Container engines the lab started (docker) or gave storage to (podman), with their containers.</summary>
    public List<LabEngine> Engines { get; set; } = [];
}

/// <summary>A container engine of the lab: its command with the lab's options, its directory, the containers it runs.</summary>
public sealed record LabEngine(string Kind, string Command, string Directory, List<string> Containers);

/// <summary>A long-lived process the lab started, and the text of its command line that proves a pid is still it.</summary>
public sealed record LabProcess(int Pid, string Marker, string Role);

/// <summary>
/// One guest's forwarding path: source namespace —(in link)— guest —(out link)— sink namespace, plus a direct link from
/// source to sink (the generator's ceiling without a guest). Addresses: in 10.(S+1).j.0/24 (source .2, guest .1), out
/// 10.(S+2).j.0/24 (guest .1, sink .2), direct 10.(S+3).j.0/24 (source .1, sink .2).
/// </summary>
public sealed record LabForwardPath(int Index, string SourceNetns, string SinkNetns, string GuestIn, string GuestOut, string Sink);

public sealed record LabContainer(string Name, string Namespace, string LxcPath);

/// <summary>
/// A machine of the lab reachable over SSH: a test host or the peer (platform "native"), a guest ("lxc", "qemu", "xen"
/// — the <see cref="Config.Platform"/> names), or the Xen host's dom0 (<see cref="XenBuilder.Dom0"/>).
/// </summary>
public sealed record LabMachine(string Name, string Namespace, string Address, int SshPort, string HostKeyFingerprint, bool IsPeer, string Platform = "native", string? Host = null)
{
    /// <summary>Docker and Podman guests: the engine's command (with the lab's socket or storage); they have no sshd (SshPort 0).</summary>
    public string? Engine { get; init; }
}

/// <summary>The labs' state files under one directory: lab NAME's at NAME/state.json.</summary>
public sealed class LabStateFiles(string directory)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string Directory { get; } = Path.GetFullPath(directory);

    public string PathOf(string name) => Path.Combine(Directory, name, "state.json");

    public LabState? Read(string name) =>
        File.Exists(PathOf(name)) ? JsonSerializer.Deserialize<LabState>(File.ReadAllText(PathOf(name))) : null;

    public void Save(LabState state)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, state.Name));
        File.WriteAllText(PathOf(state.Name), JsonSerializer.Serialize(state, Json));
    }
}

/// <summary>One `lab up` in progress: what was asked, what exists so far (saved after every step), where its files go.</summary>
internal sealed class LabSession(LabSpec spec, LabState state, string directory, LabStateFiles files, Action<string>? log)
{
    public LabSpec Spec { get; } = spec;

    public LabState State { get; } = state;

    /// <summary>This lab's own directory (keys, configs, disks, logs).</summary>
    public string Directory { get; } = directory;

    public string ClientKey => Path.Combine(Directory, "client_ed25519");

    public void Log(string text) => log?.Invoke($"lab {Spec.Name}: {text}");

    public void Save() => files.Save(State);
}
