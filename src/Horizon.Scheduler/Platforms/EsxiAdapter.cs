using System.Globalization;
using System.Text.Json;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>
/// VMware ESXi through the vSphere API with govc: the VM's `sched.cpu.affinity` setting (`govc vm.change -e`), read
/// back from `govc vm.info -e -json`, and the host's CPUs from `govc host.info -json` (ESXi has no lscpu). The API access
/// comes from the host's `vsphere:` settings: URL and user as given, the password by reference — `GOVC_PASSWORD="$VAR"`
/// or `"$(cat FILE)"`, expanded by the shell that runs govc — so no command line, error message or result holds it.
/// Without `vsphere:` govc uses its own environment (GOVC_URL…) on the host. What this proves against vcsim (the vSphere
/// API simulator): the API calls and their read-back; not what ESXi's own scheduler does with the setting.
/// </summary>
public sealed class EsxiAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.VmwareEsxi;

    public override bool PerGuest => true;

    /// <summary>govc with the host's API access in its environment (the password as a reference the shell expands).</summary>
    public static string Govc(TestHost host)
    {
        if (host.VSphere is not { } v)
        {
            return "govc";
        }

        var password = v.PasswordEnv is { } env ? $"\"${{{env}}}\"" : $"\"$(cat {Q(v.PasswordFile!)})\"";
        // No session cache (~/.govmomi): nothing written to the home directory, and every command logs in with the reference.
        return $"GOVC_URL={Q(v.Url)} GOVC_USERNAME={Q(v.User)} GOVC_PASSWORD={password} GOVC_INSECURE={(v.Insecure ? 1 : 0)} GOVC_PERSIST_SESSION=false govc";
    }

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"{Govc(host.Host)} vm.change -vm {Q(guest.InstanceName)} -e sched.cpu.affinity={(vcpus is null ? "all" : Union(vcpus, host.Topology))}", ct);

    /// <summary>
    /// The sched.cpu.affinity value in govc's JSON (extraConfig key/value pairs; PascalCase in govc 0.24, camelCase from
    /// 0.31 on). The last one wins: vcsim 0.24 appends a changed key instead of replacing it. Null: not set. An unknown VM
    /// (`{"VirtualMachines": null}`, exit 0) is an error.
    /// </summary>
    public static string? ParseAffinity(string json, string vm)
    {
        using var doc = JsonDocument.Parse(json);
        if (Property(doc.RootElement, "virtualMachines") is not { ValueKind: JsonValueKind.Array } vms || vms.GetArrayLength() == 0)
        {
            throw new TestbedException($"the vSphere API knows no VM '{vm}' (govc vm.info printed no virtual machine)");
        }

        string? found = null;
        Walk(vms, ref found);
        return found;

        static void Walk(JsonElement e, ref string? found)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                if (Property(e, "key") is { ValueKind: JsonValueKind.String } k && k.GetString() == "sched.cpu.affinity"
                    && Property(e, "value") is { ValueKind: JsonValueKind.String } value)
                {
                    found = value.GetString();
                }

                foreach (var p in e.EnumerateObject())
                {
                    Walk(p.Value, ref found);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var x in e.EnumerateArray())
                {
                    Walk(x, ref found);
                }
            }
        }
    }

    /// <summary>The host's CPUs from `govc host.info -json`: Hardware.CpuInfo's packages, cores and threads (either casing).</summary>
    public static HostTopology ParseHostInfo(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var hosts = Property(doc.RootElement, "hostSystems");
        if (hosts is not { ValueKind: JsonValueKind.Array } list || list.GetArrayLength() == 0)
        {
            throw new TestbedException("the vSphere API returned no host system (govc host.info)");
        }

        var info = Property(Property(list[0], "hardware") ?? default, "cpuInfo")
            ?? throw new TestbedException("govc host.info -json has no Hardware.CpuInfo");
        int Need(string name) => Property(info, name) is { ValueKind: JsonValueKind.Number } n && n.GetInt32() > 0
            ? n.GetInt32() : throw new TestbedException($"govc host.info -json has no usable CpuInfo.{name}");
        int packages = Need("numCpuPackages"), cores = Need("numCpuCores"), threads = Need("numCpuThreads");
        var threadsPerCore = Math.Max(1, threads / cores);
        var coresPerPackage = Math.Max(1, cores / packages);
        return new HostTopology([.. Enumerable.Range(0, threads).Select(c => new LogicalCpu(c, c / threadsPerCore, c / threadsPerCore / coresPerPackage, 0))]);
    }

    private static JsonElement? Property(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        foreach (var p in e.EnumerateObject())
        {
            if (p.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return p.Value;
            }
        }

        return null;
    }

    public override async Task<HostTopology?> DiscoverTopologyAsync(TestHost host, GuestSpec guest, IGuestTransport transport, CancellationToken ct)
    {
        var command = $"{Govc(host)} host.info -json{(host.VSphere?.HostName is { } name ? $" -host {Q(name)}" : "")}";
        var r = await transport.RunAsync(command, TimeSpan.FromSeconds(60), null, ct);
        return r.ExitCode == 0 ? ParseHostInfo(r.Stdout)
            : throw new TestbedException($"on host '{host.Name}': `{command}` failed (exit {r.ExitCode.ToString(CultureInfo.InvariantCulture)}): {r.ErrorTail}");
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var value = ParseAffinity(await host.Must($"{Govc(host.Host)} vm.info -e -json {Q(guest.InstanceName)}", ct), guest.InstanceName);
        var list = value is null or "all" ? host.Topology.All : value;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
