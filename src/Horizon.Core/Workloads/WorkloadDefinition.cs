using System.Collections.Immutable;
using System.Globalization;
using Horizon.Config;

namespace Horizon.Workloads;

public enum ParameterKind
{
    Integer,
    Size,
    Duration,
    Text,
    Boolean,
}

public sealed record ParameterDefinition(string Name, ParameterKind Kind, string? Default, string Description, long Min = 0);

/// <summary>Something the guest must have; <see cref="Check"/> is a bash test that succeeds when it is there.</summary>
public sealed record ToolRequirement(string What, string Check, string DebianPackage);

/// <summary>The bash pieces a guest runs for a workload. Only <see cref="Round"/> is timed.</summary>
public sealed record WorkloadScripts(
    string Prepare,
    string BeforeRound,
    string Round,
    string Cleanup,
    ImmutableDictionary<string, string> KitFiles)
{
    /// <summary>Send each round's output back after the end probe (untimed).</summary>
    public bool ReportOutput { get; init; }
}

/// <summary>What a round's result is: its duration (the default) or a value the workload reports, e.g. throughput.</summary>
public sealed record Metric(string Name, string Unit, bool HigherIsBetter)
{
    public static Metric Duration { get; } = new("duration", "s", false);
}

/// <summary>What a workload may know about the testbed when it builds its scripts: the peer's address, how many guests run at once.</summary>
public sealed record WorkloadContext(string? PeerAddress, int Guests = 1)
{
    public static WorkloadContext None { get; } = new((string?)null);
}

/// <summary>A service the network peer runs for the length of an experiment (started and stopped by the scheduler).</summary>
public sealed record PeerService(string Start, string Stop, string Describe);

/// <summary>A workload with validated parameters, in a canonical form (sorted, normalized values).</summary>
public sealed record WorkloadSpec(string Name, ImmutableSortedDictionary<string, string> Parameters)
{
    public string Key => Parameters.Count == 0 ? Name : $"{Name}({string.Join(",", Parameters.Select(p => $"{p.Key}={p.Value}"))})";

    public string Get(string name) => Parameters.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"workload {Name} has no parameter {name}");

    public long GetLong(string name) => long.Parse(Get(name), CultureInfo.InvariantCulture);

    public bool GetBool(string name) => Get(name) == "true";

    public TimeSpan GetDuration(string name) => TimeSpan.FromSeconds(double.Parse(Get(name).TrimEnd('s'), CultureInfo.InvariantCulture));

    public string Label => Name;
}

public abstract class WorkloadDefinition
{
    public abstract string Name { get; }

    public abstract string Description { get; }

    /// <summary>Where the study describes it.</summary>
    public virtual string StudySection => "";

    public abstract ImmutableArray<ParameterDefinition> Parameters { get; }

    public virtual ImmutableArray<ToolRequirement> Tools => [];

    /// <summary>Builds the guest-side scripts. They run with the experiment's work directory as current directory.</summary>
    public abstract WorkloadScripts Build(WorkloadSpec spec);

    public virtual WorkloadScripts Build(WorkloadSpec spec, WorkloadContext context) => Build(spec);

    /// <summary>The value a round yields; rounds are timed by probes whatever it is.</summary>
    public virtual Metric PrimaryMetric => Metric.Duration;

    /// <summary>When true the guest sends each round's output back (after its end probe) for <see cref="ParseOutput"/>.</summary>
    public virtual bool ReportsOutput => false;

    public virtual bool NeedsPeer => false;

    public virtual PeerService? Peer(WorkloadSpec spec) => null;

    /// <summary>The service on the network peer, when it needs to know the testbed (e.g. the peer's address to listen on).</summary>
    public virtual PeerService? Peer(WorkloadSpec spec, WorkloadContext context) => Peer(spec);

    /// <summary>
    /// Every service the experiment needs on the peer; shared by experiments that need the same one (same start command)
    /// and stopped when its last user ends. Default: the one <see cref="Peer(WorkloadSpec, WorkloadContext)"/> names.
    /// </summary>
    public virtual IEnumerable<PeerService> PeerServices(WorkloadSpec spec, WorkloadContext context) =>
        Peer(spec, context) is { } service ? [service] : [];

    /// <summary>Values an experiment runs for when it leaves the parameter unset: one experiment each (e.g. frame sizes).</summary>
    public virtual IReadOnlyDictionary<string, IReadOnlyList<string>> DefaultSweep { get; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Checks a normalized parameter value beyond its kind; returns an error message or null.</summary>
    public virtual string? Validate(string name, string value) => null;

    /// <summary>Metrics from one round's output; throws <see cref="FormatException"/> when the output is unusable.</summary>
    public virtual IReadOnlyDictionary<string, double> ParseOutput(WorkloadSpec spec, string output) => new Dictionary<string, double>();

    /// <summary>Normalizes raw parameter text; returns an error message or null.</summary>
    public static string? Normalize(ParameterDefinition p, string raw, out string value)
    {
        value = raw;
        switch (p.Kind)
        {
            case ParameterKind.Integer:
                if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
                {
                    return $"expected an integer, got '{raw}'";
                }

                if (n < p.Min)
                {
                    return $"must be at least {p.Min}, got {n}";
                }

                value = n.ToString(CultureInfo.InvariantCulture);
                return null;
            case ParameterKind.Size:
                if (!Units.TryParseSize(raw, out var bytes))
                {
                    return $"expected a size such as 2G, 64M or 4096, got '{raw}'";
                }

                if (bytes < p.Min)
                {
                    return $"must be at least {Units.FormatSize(p.Min)}, got {raw}";
                }

                value = bytes.ToString(CultureInfo.InvariantCulture);
                return null;
            case ParameterKind.Duration:
                if (!Units.TryParseDuration(raw, out var d))
                {
                    return $"expected a duration such as 2m, 90s or 500ms, got '{raw}'";
                }

                value = d.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + "s";
                return null;
            case ParameterKind.Boolean:
                if (raw is not ("true" or "false" or "yes" or "no"))
                {
                    return $"expected true or false, got '{raw}'";
                }

                value = raw is "true" or "yes" ? "true" : "false";
                return null;
            default:
                return null;
        }
    }

    protected static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    protected static string Kit(string name)
    {
        using var stream = typeof(WorkloadDefinition).Assembly.GetManifestResourceStream($"kit/{name}")
            ?? throw new InvalidOperationException($"workload kit file {name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    protected static ToolRequirement Gcc { get; } = new("a C compiler (gcc)", "command -v gcc", "gcc");

    protected static ToolRequirement Gmp { get; } = new("GMP headers (gmp.h)", "echo '#include <gmp.h>' | gcc -E -x c - >/dev/null 2>&1", "libgmp-dev");
}

public static class WorkloadCatalog
{
    public static ImmutableArray<WorkloadDefinition> All { get; } =
    [
        new SuperPiWorkload(),
        new MasrWorkload(),
        new ZfgWorkload(ZfgVariant.Plain),
        new ZfgWorkload(ZfgVariant.Dirty),
        new ZfgWorkload(ZfgVariant.Rest),
        new BonnieWorkload(),
        new KernelBuildWorkload(),
        new IperfUdpWorkload(),
        new CommandWorkload(),
        new ForwardWorkload(),
    ];

    public static WorkloadDefinition? Find(string name) => All.FirstOrDefault(w => w.Name == name);

    public static WorkloadDefinition Get(string name) => Find(name) ?? throw new KeyNotFoundException($"unknown workload '{name}'");

    /// <summary>Workloads the study has that need parts this build does not have yet.</summary>
    public static IReadOnlyDictionary<string, string> Planned { get; } = new Dictionary<string, string>();

    public static WorkloadSpec Create(string name, IReadOnlyDictionary<string, string> raw)
    {
        var def = Get(name);
        var values = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var p in def.Parameters)
        {
            var text = raw.TryGetValue(p.Name, out var r) ? r : p.Default ?? throw new ArgumentException($"parameter {p.Name} is required");
            var error = WorkloadDefinition.Normalize(p, text, out var normalized);
            if (error is not null)
            {
                throw new ArgumentException($"{p.Name}: {error}");
            }

            if (def.Validate(p.Name, normalized) is { } invalid)
            {
                throw new ArgumentException($"{p.Name}: {invalid}");
            }

            values[p.Name] = normalized;
        }

        return new WorkloadSpec(name, values.ToImmutable());
    }
}
