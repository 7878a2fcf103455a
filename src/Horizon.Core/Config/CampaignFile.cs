using System.Collections.Immutable;
using Horizon.Statistics;
using Horizon.Workloads;
using YamlDotNet.RepresentationModel;

namespace Horizon.Config;

/// <summary>Reads a campaign file or a built-in preset. The format: docs/files.md, "Campaign file".</summary>
public static class CampaignFile
{
    private static readonly string[] PlanKeys = ["rounds", "round_timeout", "cpu_scheme", "cpu_schemes", "guests", "guest_counts", "concurrent", "probe_copies", "cpu_weight", "cpu_cap", "warmup"];

    public static IReadOnlyList<string> Presets { get; } = ["quick", "study", "scaling", "multi-vm"];

    /// <summary>
    /// The most experiments one campaign expands to (sweeps × guest sets × schemes). Far above the study (a few dozen);
    /// a sweep written by mistake (or through aliases) is refused here rather than run for months.
    /// </summary>
    public const int MaxExperiments = 10_000;

    public static string PresetText(string name)
    {
        using var stream = typeof(CampaignFile).Assembly.GetManifestResourceStream($"presets/{name}.yaml")
            ?? throw new ArgumentException($"no preset '{name}'; presets: {string.Join(", ", Presets)}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static Campaign LoadPreset(string name, Testbed testbed) => Parse($"preset:{name}", PresetText(name), testbed, skipUnsupported: true);

    public static Campaign Load(string path, Testbed testbed)
    {
        return Parse(path, YamlFields.ReadFile(path), testbed);
    }

    public static Campaign Parse(string file, string text, Testbed testbed, bool skipUnsupported = false)
    {
        var skipped = new List<string>();
        var root = new YamlFields(file, "", YamlFields.LoadDocument(file, text));
        var name = root.RequireString("campaign");
        if (CampaignName.Problem(name) is { } badName)
        {
            throw root.Error("campaign", badName);
        }

        var defaults = ReadPlanDefaults(root, testbed, null);
        var interleave = new InterleaveOptions(1, 2009);
        if (root.TryGet("interleave", out var il))
        {
            var f = new YamlFields(file, "interleave", il);
            interleave = new InterleaveOptions(f.OptionalInt("block", 1, 1), f.OptionalInt("seed", 2009));
            f.RejectUnknown();
        }

        var experiments = new List<ExperimentPlan>();
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var nodes = root.OptionalSequence("experiments");
        if (nodes.Count == 0)
        {
            throw root.Error("experiments", "a campaign needs at least one experiment");
        }

        for (var i = 0; i < nodes.Count; i++)
        {
            var e = new YamlFields(file, $"experiments[{i}]", nodes[i]);
            var workloadName = e.RequireString("workload");
            var def = WorkloadCatalog.Find(workloadName);
            if (def is null)
            {
                var planned = WorkloadCatalog.Planned.TryGetValue(workloadName, out var why) ? $" ({why})" : "";
                throw e.Error("workload", $"unknown workload '{workloadName}'{planned}; known: {string.Join(", ", WorkloadCatalog.All.Select(w => w.Name))}");
            }

            if (def.NeedsPeer && testbed.Peer is null && skipUnsupported)
            {
                skipped.Add($"{def.Name} (the testbed has no network peer)");
                continue;
            }

            if (def.NeedsPeer && testbed.Peer is null)
            {
                throw e.Error("workload", $"'{def.Name}' needs a network peer: add 'peer' to testbed '{testbed.Name}' ({testbed.SourceFile})");
            }

            var plan = ReadPlanDefaults(e, testbed, defaults);
            var raw = new Dictionary<string, string>();
            foreach (var p in def.Parameters)
            {
                if (e.TryGet(p.Name, out var v))
                {
                    var textValue = e.Scalar(p.Name, v);
                    var error = WorkloadDefinition.Normalize(p, textValue, out var normalized) ?? def.Validate(p.Name, normalized);
                    if (error is not null)
                    {
                        throw e.Error(v, e.FieldPath(p.Name), error);
                    }

                    if (def is CommandWorkload && p.Name == "metrics")
                    {
                        try
                        {
                            CommandWorkload.MetricPatterns(textValue);
                        }
                        catch (FormatException x)
                        {
                            throw e.Error(v, e.FieldPath(p.Name), x.Message);
                        }
                    }

                    raw[p.Name] = textValue;
                }
                else if (p.Default is null)
                {
                    throw e.Error(nodes[i], e.FieldPath(p.Name), $"is required by workload '{def.Name}'");
                }
            }

            e.RejectUnknown(["workload", "sweep", .. PlanKeys, .. def.Parameters.Select(p => p.Name)]);
            foreach (var variant in Sweep(e, def, raw))
            {
                var spec = WorkloadCatalog.Create(def.Name, variant);
                AddExperiments(e, def, spec, plan, experiments, keys, skipped, skipUnsupported);
            }
        }

        root.RejectUnknown(["campaign", "interleave", "experiments", .. PlanKeys]);
        return new Campaign(name, file, [.. experiments], interleave) { Skipped = [.. skipped] };
    }

    /// <summary>
    /// An experiment's `sweep:` (hyperfine's parameter lists): every combination of the listed values becomes an experiment.
    /// A name that is a parameter of the workload sets it; for `command`, any other name is a {placeholder} substituted in
    /// run, setup, before, cleanup and metrics, and the combination is kept as the experiment's `variant` parameter.
    /// </summary>
    private static List<Dictionary<string, string>> Sweep(YamlFields e, WorkloadDefinition def, Dictionary<string, string> raw)
    {
        var variants = new List<Dictionary<string, string>> { new(raw) };
        if (!e.TryGet("sweep", out var node))
        {
            return DefaultSweep(e, def, raw, variants, []);
        }

        if (node is not YamlMappingNode map || map.Children.Count == 0)
        {
            throw e.Error(node, e.FieldPath("sweep"), "expected a mapping of name: [values, …]");
        }

        var texts = new[] { "run", "setup", "before", "cleanup", "metrics" };
        foreach (var (keyNode, valuesNode) in map.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? "";
            var field = e.FieldPath($"sweep.{name}");
            if (valuesNode is not YamlSequenceNode seq || seq.Children.Count == 0 || seq.Children.Any(c => c is not YamlScalarNode))
            {
                throw e.Error(valuesNode, field, "expected a list of values, e.g. [1, 2, 4]");
            }

            var values = seq.Children.Select(c => ((YamlScalarNode)c).Value ?? "").ToList();
            var parameter = def.Parameters.FirstOrDefault(p => p.Name == name);
            if (parameter is not null)
            {
                foreach (var v in values)
                {
                    if ((WorkloadDefinition.Normalize(parameter, v, out var normalized) ?? def.Validate(parameter.Name, normalized)) is { } error)
                    {
                        throw e.Error(valuesNode, field, error);
                    }
                }
            }
            else if (def.Name != "command")
            {
                throw e.Error(keyNode, field, $"'{name}' is not a parameter of {def.Name} ({string.Join(", ", def.Parameters.Select(p => p.Name))}); placeholders are for the command workload");
            }
            else if (!texts.Any(t => raw.GetValueOrDefault(t, "") is var x && (x.Contains($"{{{name}}}", StringComparison.Ordinal) || x.Contains($"{{{name}:q}}", StringComparison.Ordinal))))
            {
                throw e.Error(keyNode, field, $"'{{{name}}}' (or '{{{name}:q}}') appears in none of {string.Join(", ", texts)}");
            }

            if ((long)variants.Count * values.Count > MaxExperiments)
            {
                throw e.Error(valuesNode, field, $"the sweep makes {(long)variants.Count * values.Count} combinations; a campaign holds at most {MaxExperiments} experiments");
            }

            var next = new List<Dictionary<string, string>>();
            foreach (var variant in variants)
            {
                foreach (var v in values)
                {
                    var d = new Dictionary<string, string>(variant);
                    if (parameter is not null)
                    {
                        d[name] = v;
                    }
                    else
                    {
                        foreach (var t in texts.Where(d.ContainsKey))
                        {
                            // {name} is the value as written (shell syntax is kept: a value may be a pipeline);
                            // {name:q} is the value as one shell word, quoted, whatever characters it holds.
                            d[t] = d[t].Replace($"{{{name}}}", v, StringComparison.Ordinal)
                                .Replace($"{{{name}:q}}", Scripts.GuestScripts.Quote(v), StringComparison.Ordinal);
                        }

                        d["variant"] = (d.GetValueOrDefault("variant", "") + $" {name}={v}").Trim();
                    }

                    next.Add(d);
                }
            }

            variants = next;
        }

        return DefaultSweep(e, def, raw, variants, [.. map.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "")]);
    }

    /// <summary>A workload's own sweep (forward: RFC 2544's frame sizes) for each parameter the experiment leaves unset.</summary>
    private static List<Dictionary<string, string>> DefaultSweep(YamlFields e, WorkloadDefinition def, Dictionary<string, string> raw, List<Dictionary<string, string>> variants, HashSet<string> swept)
    {
        foreach (var (name, values) in def.DefaultSweep)
        {
            if (raw.ContainsKey(name) || swept.Contains(name))
            {
                continue;
            }

            if ((long)variants.Count * values.Count > MaxExperiments)
            {
                throw e.Error("workload", $"{def.Name}'s own sweep of {name} ({values.Count} values) makes more than {MaxExperiments} experiments with the others");
            }

            variants = [.. variants.SelectMany(v => values.Select(x => new Dictionary<string, string>(v) { [name] = x }))];
        }

        return variants;
    }

    private static void AddExperiments(
        YamlFields e, WorkloadDefinition def, WorkloadSpec spec, PlanDefaults plan, List<ExperimentPlan> experiments, HashSet<string> keys, List<string> skipped, bool skipUnsupported)
    {
        IEnumerable<ImmutableArray<string>> sets = plan.Concurrent ? [plan.Guests] : plan.Guests.Select(g => ImmutableArray.Create(g));
        if (plan.GuestCounts is { } counts)
        {
            // A scaling sweep: the first k guests at once, for each k.
            var fitting = counts.Where(k => k <= plan.Guests.Length).ToList();
            foreach (var k in counts.Except(fitting))
            {
                if (!skipUnsupported)
                {
                    throw e.Error("guest_counts", $"{k} guests at once, but only {plan.Guests.Length} guest(s) are listed ({string.Join(", ", plan.Guests)})");
                }

                var why = $"{def.Name} with {k} guests (the testbed has {plan.Guests.Length})";
                if (!skipped.Contains(why))
                {
                    skipped.Add(why);
                }
            }

            sets = fitting.Select(k => plan.Guests[..k]);
        }

        foreach (var set in sets)
        {
            if (experiments.Count + plan.Schemes.Length > MaxExperiments)
            {
                throw e.Error("workload", $"the campaign expands to more than {MaxExperiments} experiments (sweeps × guest sets × CPU schemes); split it or sweep fewer values");
            }

            foreach (var scheme in plan.Schemes)
            {
                var x = new ExperimentPlan(spec, set, scheme, plan.Rounds, plan.RoundTimeout, plan.ProbeCopies) { Share = plan.Share, Warmup = plan.Warmup };
                if (!keys.Add(x.Key))
                {
                    throw e.Error("workload", $"experiment {x.Key} is listed twice");
                }

                experiments.Add(x);
            }
        }
    }

    private sealed record PlanDefaults(RoundPolicy Rounds, TimeSpan RoundTimeout, ImmutableArray<CpuScheme> Schemes, ImmutableArray<string> Guests, bool Concurrent, int ProbeCopies, ImmutableArray<int>? GuestCounts, CpuShare? Share, int Warmup);

    private static PlanDefaults ReadPlanDefaults(YamlFields f, Testbed testbed, PlanDefaults? inherited)
    {
        var rounds = inherited?.Rounds ?? RoundPolicy.Fixed(10);
        if (f.TryGet("rounds", out var r))
        {
            rounds = ReadRounds(f, r);
        }

        var timeout = f.OptionalDuration("round_timeout") ?? inherited?.RoundTimeout ?? TimeSpan.FromMinutes(30);
        if (timeout <= TimeSpan.Zero)
        {
            throw f.Error("round_timeout", "must be positive");
        }

        var schemes = inherited?.Schemes ?? [CpuScheme.Default];
        if (f.TryGet("cpu_scheme", out _) && f.TryGet("cpu_schemes", out _))
        {
            throw f.Error("cpu_schemes", "give cpu_scheme or cpu_schemes, not both");
        }

        if (f.TryGet("cpu_scheme", out _))
        {
            schemes = [f.OptionalEnum("cpu_scheme", CpuScheme.Default, Names.Schemes)];
        }
        else if (f.TryGet("cpu_schemes", out var schemeNode))
        {
            var list = new List<CpuScheme>();
            foreach (var n in f.OptionalStringList("cpu_schemes"))
            {
                list.Add(Names.Schemes.TryGetValue(n, out var s) ? s
                    : throw f.Error(schemeNode, f.FieldPath("cpu_schemes"), $"'{n}' is not a CPU scheme; expected one of {string.Join(", ", Names.Schemes.Keys)}"));
            }

            schemes = list.Count > 0 ? [.. list.Distinct()] : throw f.Error(schemeNode, f.FieldPath("cpu_schemes"), "names no scheme");
        }

        var guestCounts = inherited?.GuestCounts;
        if (f.TryGet("guest_counts", out var countsNode))
        {
            var list = new List<int>();
            foreach (var n in f.OptionalStringList("guest_counts"))
            {
                list.Add(int.TryParse(n, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) && k >= 1 ? k
                    : throw f.Error(countsNode, f.FieldPath("guest_counts"), $"'{n}' is not a guest count (1 or more)"));
            }

            guestCounts = list.Count > 0 ? [.. list.Distinct().Order()] : throw f.Error(countsNode, f.FieldPath("guest_counts"), "names no count");
        }
        var guests = inherited?.Guests ?? [.. testbed.Guests.Select(g => g.Name)];
        if (f.TryGet("guests", out var gnode))
        {
            var names = f.OptionalStringList("guests");
            if (names is ["all"])
            {
                guests = [.. testbed.Guests.Select(g => g.Name)];
            }
            else
            {
                foreach (var n in names)
                {
                    if (testbed.Guests.All(g => g.Name != n))
                    {
                        throw f.Error(gnode, f.FieldPath("guests"), $"no guest '{n}' in testbed '{testbed.Name}' ({testbed.SourceFile}); known: {string.Join(", ", testbed.Guests.Select(g => g.Name))}");
                    }
                }

                if (names.Count == 0)
                {
                    throw f.Error(gnode, f.FieldPath("guests"), "names no guest");
                }

                guests = [.. names];
            }
        }

        var concurrent = f.OptionalBool("concurrent", inherited?.Concurrent ?? false);
        var copies = f.OptionalInt("probe_copies", inherited?.ProbeCopies ?? 3, 1, Probes.ProbeFormat.MaxCopies);
        // The credit scheduler's share (Xen's `xl sched-credit`): weight 1..65535 (default 256), cap in % of one CPU (0 = none).
        var share = inherited?.Share;
        if (f.Has("cpu_weight") || f.Has("cpu_cap"))
        {
            share = new CpuShare(
                f.Has("cpu_weight") ? f.OptionalInt("cpu_weight", CpuShare.DefaultWeight, 1, 65535) : share?.Weight ?? CpuShare.DefaultWeight,
                f.Has("cpu_cap") ? f.OptionalInt("cpu_cap", 0, 0, 100 * 4096) : share?.Cap ?? 0);
        }

        // Warm-up rounds run (and are timed and stored) before the measured ones and never enter the statistics.
        var warmup = f.OptionalInt("warmup", inherited?.Warmup ?? 0, 0, 1000);
        return new PlanDefaults(rounds, timeout, schemes, guests, concurrent, copies, guestCounts, share, warmup);
    }

    private static RoundPolicy ReadRounds(YamlFields parent, YamlNode node)
    {
        if (node is YamlScalarNode)
        {
            var n = parent.OptionalInt("rounds", 10, 1, 100_000);
            return RoundPolicy.Fixed(n);
        }

        var f = new YamlFields(parent.File, parent.FieldPath("rounds"), node);
        var min = f.OptionalInt("min", 5, 2, 100_000);
        var max = f.OptionalInt("max", 100, 2, 100_000);
        if (max < min)
        {
            throw f.Error("max", $"must be at least min ({min}), got {max}");
        }

        var target = f.OptionalDouble("target", 1e-6, 1) ?? throw f.Error(node, f.FieldPath("target"), "is required for adaptive rounds (CI half-width as a fraction of the mean, e.g. 0.02 or 2%)");
        f.RejectUnknown();
        return RoundPolicy.Adaptive(min, max, target);
    }
}
