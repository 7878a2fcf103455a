using System.ComponentModel;
using Horizon.Config;
using Horizon.Lab;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Horizon.Cli;

public class LabSettings : DataSettings
{
    [CommandOption("--name <NAME>")]
    [Description("Lab name (default hz); namespaces are hz-NAME-*.")]
    public string Name { get; init; } = "hz";

    public LabManager Manager => new(Path.Combine(Path.GetDirectoryName(DatabasePath)!, "lab"));
}

public sealed class LabUpCommand : AsyncCommand<LabUpCommand.Settings>
{
    public sealed class Settings : LabSettings
    {
        [CommandOption("--hosts <N>")]
        [Description("Test hosts (network namespaces with their own sshd). Default 1.")]
        public int Hosts { get; init; } = 1;

        [CommandOption("--no-peer")]
        [Description("Do not create the network peer.")]
        public bool NoPeer { get; init; }

        [CommandOption("--lxc <N>")]
        [Description("LXC guests per host (needs the rootfs: scripts/build-rootfs.sh). Default 0.")]
        public int Lxc { get; init; }

        [CommandOption("--forward")]
        [Description("Give every guest a forwarding path (source → guest → sink, and a direct source → sink link) for the forward workload")]
        public bool Forward { get; init; }

        [CommandOption("--qemu <N>")]
        [Description("QEMU (TCG) guests per host (needs scripts/build-rootfs.sh and scripts/build-vm.sh). Default 0.")]
        public int Qemu { get; init; }

        [CommandOption("--libvirt <N>")]
        [Description("libvirt domains per host (platform kvm; type qemu, TCG here) through the lab's own libvirtd (Debian's libvirt-daemon-system). Default 0.")]
        public int Libvirt { get; init; }

        [CommandOption("--docker <N>")]
        [Description("Docker containers per host: the lab's own dockerd (Debian's docker.io), the rootfs imported as an image, reached with docker exec. Default 0.")]
        public int Docker { get; init; }

        [CommandOption("--podman <N>")]
        [Description("Podman containers per host (Debian's podman with runc), reached with podman exec. Default 0.")]
        public int Podman { get; init; }

        [CommandOption("--vm-kernel <DIR>")]
        [Description("Kernel and initramfs for QEMU guests (default .cache/vm).")]
        public string VmKernel { get; init; } = ".cache/vm";

        [CommandOption("--rootfs <DIR>")]
        [Description("Root filesystem for LXC guests (default .cache/rootfs/bookworm).")]
        public string Rootfs { get; init; } = ".cache/rootfs/bookworm";

        [CommandOption("--xen <N>")]
        [Description("A nested Xen 4.17 host (QEMU/TCG, dom0 over SSH) with N PV domUs (needs scripts/build-xen.sh). Default 0.")]
        public int Xen { get; init; }

        [CommandOption("--xen-image <DIR>")]
        [Description("Xen hypervisor and dom0 image (default .cache/xen)")]
        public string XenImage { get; init; } = ".cache/xen";

        [CommandOption("--subnet <N>")]
        [Description("Second octet of the lab's 10.N.0.0/24 (default 77).")]
        public int Subnet { get; init; } = 77;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Name.Length is 0 or > 12 || !settings.Name.All(char.IsAsciiLetterOrDigit))
        {
            return Render.Error("--name: 1 to 12 letters or digits");
        }

        try
        {
            var state = await settings.Manager.UpAsync(new LabSpec(settings.Name, settings.Hosts, !settings.NoPeer, settings.Subnet, settings.Lxc, Path.GetFullPath(settings.Rootfs), settings.Qemu, Path.GetFullPath(settings.VmKernel)) { Forward = settings.Forward, LibvirtGuests = settings.Libvirt, DockerGuests = settings.Docker, PodmanGuests = settings.Podman, XenGuests = settings.Xen, XenImage = Path.GetFullPath(settings.XenImage) }, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"), cancellationToken);
            AnsiConsole.MarkupLine($"lab [bold]{settings.Name}[/] is up: {state.Machines.Count} machine(s). Testbed: [bold]{Markup.Escape(state.TestbedFile!)}[/]");
            AnsiConsole.MarkupLine($"  horizon run -t {Markup.Escape(state.TestbedFile!)}");
            return 0;
        }
        catch (TestbedException e)
        {
            return Render.Error(e.Message);
        }
    }
}

public sealed class LabDownCommand : AsyncCommand<LabSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, LabSettings settings, CancellationToken cancellationToken)
    {
        var removed = await settings.Manager.DownAsync(settings.Name, m => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(m)}[/]"), cancellationToken);
        AnsiConsole.MarkupLine(removed ? $"lab [bold]{settings.Name}[/] removed" : $"no lab named {settings.Name}");
        return 0;
    }
}

public sealed class LabStatusCommand : Command<LabSettings>
{
    public override int Execute(CommandContext context, LabSettings settings, CancellationToken cancellationToken)
    {
        var state = settings.Manager.Read(settings.Name);
        if (state is null)
        {
            AnsiConsole.MarkupLine($"no lab named {settings.Name}");
            return 1;
        }

        foreach (var m in state.Machines)
        {
            AnsiConsole.MarkupLine($"{m.Name,-8} {m.Address,-12} netns {m.Namespace,-16} ssh 127.0.0.1:{m.SshPort} {(m.IsPeer ? "(network peer)" : "")}");
        }

        foreach (var p in state.Processes)
        {
            AnsiConsole.MarkupLine($"  {p.Role,-24} pid {p.Pid} {(Directory.Exists($"/proc/{p.Pid}") ? "[green]running[/]" : "[red]gone[/]")}");
        }

        foreach (var (vm, threads) in state.VcpuThreads)
        {
            AnsiConsole.MarkupLine($"  {vm} vCPU threads: {string.Join(", ", threads)}");
        }

        AnsiConsole.MarkupLine($"testbed: {Markup.Escape(state.TestbedFile ?? "(not written)")}");
        return 0;
    }
}
