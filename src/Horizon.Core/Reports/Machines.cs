using System.Globalization;
using System.Text.Json;

namespace Horizon.Reports;

/// <summary>
/// The test computer an experiment was measured on, as its environment records it (the agent that ran it and that
/// machine's hardware): a ratio between experiments of two machines is a ratio of machines as well as of platforms.
/// </summary>
public sealed record MachineRecord(string Agent, string Machine, string? CpuModel, int? Cpus, long? MemoryBytes, string? Kernel)
{
    public static MachineRecord? Of(Results.ExperimentResult e)
    {
        try
        {
            using var doc = JsonDocument.Parse(e.EnvironmentJson is { Length: > 0 } j ? j : "{}");
            if (!doc.RootElement.TryGetProperty("agent", out var a) || a.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            string? S(string name) => a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            long? N(string name) => a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
            return new MachineRecord(S("id") ?? "?", S("machine") ?? "?", S("cpu_model"), (int?)N("cpus"), N("memory_bytes"), S("kernel"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public bool SameComputer(MachineRecord other) => Agent == other.Agent && Machine == other.Machine;

    /// <summary>What differs between the two machines' recorded hardware (CPU model, core count, memory, kernel); unknown counts as different.</summary>
    public IReadOnlyList<string> HardwareDifferences(MachineRecord other)
    {
        var differences = new List<string>();
        if (CpuModel is null || CpuModel != other.CpuModel)
        {
            differences.Add("CPU model");
        }

        if (Cpus is null || Cpus != other.Cpus)
        {
            differences.Add("core count");
        }

        // Memory as the kernel reports it moves by a few MiB between boots of one machine: within 1 % is the same.
        if (MemoryBytes is not { } m || other.MemoryBytes is not { } o || Math.Abs(m - o) > 0.01 * Math.Max(m, o))
        {
            differences.Add("memory");
        }

        if (Kernel is null || Kernel != other.Kernel)
        {
            differences.Add("kernel");
        }

        return differences;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"agent {Agent} on {Machine}: {CpuModel ?? "CPU unknown"}, {(Cpus is { } c ? $"{c} CPUs" : "CPUs unknown")}, {(MemoryBytes is { } m ? $"{m / (double)(1L << 30):0.#} GiB" : "memory unknown")}, kernel {Kernel ?? "unknown"}");
}
