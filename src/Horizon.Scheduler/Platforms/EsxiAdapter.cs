using System.Text.Json;
using Horizon.Config;

namespace Horizon.Scheduler.Platforms;

/// <summary>VMware ESXi through govc: the VM's `sched.cpu.affinity` setting, read back from `govc vm.info -e -json`.</summary>
public sealed class EsxiAdapter : PlatformAdapter
{
    public override Platform Platform => Platform.VmwareEsxi;

    public override bool PerGuest => true;

    public override Task ApplyAsync(HostContext host, GuestSpec guest, IReadOnlyList<string>? vcpus, CancellationToken ct) =>
        host.Must($"govc vm.change -vm {Q(guest.InstanceName)} -e sched.cpu.affinity={(vcpus is null ? "all" : Union(vcpus, host.Topology))}", ct);

    /// <summary>Finds the sched.cpu.affinity value in govc's JSON (extraConfig key/value pairs, any casing).</summary>
    public static string? ParseAffinity(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Find(doc.RootElement);

        static string? Find(JsonElement e)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.Object:
                    string? key = null, value = null;
                    foreach (var p in e.EnumerateObject())
                    {
                        if (p.Name.Equals("key", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                        {
                            key = p.Value.GetString();
                        }
                        else if (p.Name.Equals("value", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                        {
                            value = p.Value.GetString();
                        }
                    }

                    if (key == "sched.cpu.affinity")
                    {
                        return value;
                    }

                    foreach (var p in e.EnumerateObject())
                    {
                        if (Find(p.Value) is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                case JsonValueKind.Array:
                    foreach (var x in e.EnumerateArray())
                    {
                        if (Find(x) is { } found)
                        {
                            return found;
                        }
                    }

                    return null;
                default:
                    return null;
            }
        }
    }

    public override async Task<IReadOnlyList<string>> ReadBackAsync(HostContext host, GuestSpec guest, CancellationToken ct)
    {
        var value = ParseAffinity(await host.Must($"govc vm.info -e -json {Q(guest.InstanceName)}", ct));
        var list = value is null or "all" ? host.Topology.All : value;
        return [.. Enumerable.Repeat(list, guest.Vcpus)];
    }
}
