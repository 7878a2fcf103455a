using System.Collections.Immutable;
using System.Globalization;

namespace Horizon.Workloads;

/// <summary>Study §5.1: pi to 2^22 digits by Gauss–Legendre (the project's own C over GMP), checked against known digits.</summary>
public sealed class SuperPiWorkload : WorkloadDefinition
{
    public override string Name => "superpi";

    public override string Description => "CPU: pi by Gauss–Legendre over GMP";

    public override string StudySection => "5.1";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
        [new("digits", ParameterKind.Integer, "4194304", "decimal digits of pi (the study: 2^22)", 10)];

    public override ImmutableArray<ToolRequirement> Tools => [Gcc, Gmp];

    public override WorkloadScripts Build(WorkloadSpec spec) => new(
        Prepare: "gcc -O2 -o superpi superpi.c -lgmp -lm",
        BeforeRound: "",
        Round: $"./superpi {spec.GetLong("digits")}",
        Cleanup: "rm -f superpi",
        KitFiles: ImmutableDictionary<string, string>.Empty.Add("superpi.c", Kit("superpi.c")));
}

/// <summary>Study §5.2: allocate, set sequentially, read sequentially.</summary>
public sealed class MasrWorkload : WorkloadDefinition
{
    public override string Name => "masr";

    public override string Description => "memory: allocate, set and read every word";

    public override string StudySection => "5.2";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
        [new("size", ParameterKind.Size, "2G", "bytes to allocate, set and read (the study: 2 GB)", 1 << 20)];

    public override ImmutableArray<ToolRequirement> Tools => [Gcc];

    public override WorkloadScripts Build(WorkloadSpec spec) => new(
        Prepare: "gcc -O2 -o masr masr.c",
        BeforeRound: "",
        Round: $"./masr {spec.GetLong("size")}",
        Cleanup: "rm -f masr",
        KitFiles: ImmutableDictionary<string, string>.Empty.Add("masr.c", Kit("masr.c")));
}

public enum ZfgVariant
{
    Plain,
    Dirty,
    Rest,
}

/// <summary>Study §5.3.2 and §6.1.4–6.1.6: write a zero-filled file ten times per round; dirty-buffer and resting variants.</summary>
public sealed class ZfgWorkload(ZfgVariant variant) : WorkloadDefinition
{
    public override string Name => variant switch
    {
        ZfgVariant.Dirty => "zfg-dirty",
        ZfgVariant.Rest => "zfg-rest",
        _ => "zfg",
    };

    public override string Description => variant switch
    {
        ZfgVariant.Dirty => "disk: ZFG after dirtying the write-back buffers (untimed)",
        ZfgVariant.Rest => "disk: ZFG after an untimed rest that lets buffers drain",
        _ => "disk: write a zero-filled file ten times",
    };

    public override string StudySection => variant switch
    {
        ZfgVariant.Dirty => "6.1.5",
        ZfgVariant.Rest => "6.1.6",
        _ => "5.3.2",
    };

    public override ImmutableArray<ParameterDefinition> Parameters
    {
        get
        {
            ImmutableArray<ParameterDefinition> common =
            [
                new("size", ParameterKind.Size, "2G", "size of the file written (the study: 2 GB)", 1 << 20),
                new("files", ParameterKind.Integer, "10", "times the file is written per round (the study: 10)", 1),
                new("fsync", ParameterKind.Boolean, "true", "fsync each file before closing it"),
            ];
            return variant switch
            {
                ZfgVariant.Dirty => common.Add(new("dirty", ParameterKind.Size, "4G", "data written without fsync before each round", 1 << 20)),
                ZfgVariant.Rest => common.Add(new("rest", ParameterKind.Duration, "2m", "untimed wait before each round (the study: 2 minutes)")),
                _ => common,
            };
        }
    }

    public override ImmutableArray<ToolRequirement> Tools => [Gcc];

    public override WorkloadScripts Build(WorkloadSpec spec)
    {
        var before = variant switch
        {
            ZfgVariant.Dirty => $"./zfg zfg-dirty.bin {spec.GetLong("dirty")} 1 0",
            ZfgVariant.Rest => $"sleep {spec.GetDuration("rest").TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)}",
            _ => "",
        };
        return new WorkloadScripts(
            Prepare: "gcc -O2 -o zfg zfg.c",
            BeforeRound: before,
            Round: $"./zfg zfg.bin {spec.GetLong("size")} {spec.GetLong("files")} {(spec.GetBool("fsync") ? 1 : 0)}",
            Cleanup: "rm -f zfg zfg.bin zfg-dirty.bin",
            KitFiles: ImmutableDictionary<string, string>.Empty.Add("zfg.c", Kit("zfg.c")));
    }
}

/// <summary>Study §5.3.1: Bonnie++ with a 2 GB working set.</summary>
public sealed class BonnieWorkload : WorkloadDefinition
{
    public override string Name => "bonnie";

    public override string Description => "disk and file system: Bonnie++";

    public override string StudySection => "5.3.1";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
    [
        new("size", ParameterKind.Size, "2G", "file size for the sequential tests (the study: 2 GB); RAM is declared as half of it", 2 << 20),
        new("files", ParameterKind.Integer, "16", "small files for the create/read/delete tests, in units of 1024 (bonnie++ -n)", 0),
    ];

    public override ImmutableArray<ToolRequirement> Tools => [new("bonnie++", "command -v bonnie++ || test -x /usr/sbin/bonnie++", "bonnie++")];

    public override WorkloadScripts Build(WorkloadSpec spec)
    {
        var mb = spec.GetLong("size") >> 20;
        return new WorkloadScripts(
            Prepare: "mkdir -p bonnie.d",
            BeforeRound: "",
            Round: $"PATH=$PATH:/usr/sbin bonnie++ -d bonnie.d -s {mb} -r {mb / 2} -n {spec.GetLong("files")} -u root -q -x 1",
            Cleanup: "rm -rf bonnie.d",
            KitFiles: ImmutableDictionary<string, string>.Empty);
    }
}

/// <summary>Study §5.5: `make defconfig` and a kernel build, from a clean tree each round.</summary>
public sealed class KernelBuildWorkload : WorkloadDefinition
{
    public override string Name => "kernel-build";

    public override string Description => "overall: make defconfig and build a Linux kernel";

    public override string StudySection => "5.5";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
    [
        new("source", ParameterKind.Text, "auto", "kernel source tarball; auto = Debian's /usr/src/linux-source-*.tar.xz"),
        new("target", ParameterKind.Text, "all", "make target: all (the whole kernel, as the study) or a subset such as init/"),
        new("jobs", ParameterKind.Integer, "0", "make -j; 0 = the guest's CPU count", 0),
    ];

    public override ImmutableArray<ToolRequirement> Tools =>
    [
        Gcc,
        new("make", "command -v make", "make"),
        new("flex", "command -v flex", "flex"),
        new("bison", "command -v bison", "bison"),
        new("bc", "command -v bc", "bc"),
        new("libelf headers (gelf.h)", "echo '#include <gelf.h>' | gcc -E -x c - >/dev/null 2>&1", "libelf-dev"),
        new("OpenSSL headers", "echo '#include <openssl/evp.h>' | gcc -E -x c - >/dev/null 2>&1", "libssl-dev"),
        new("xz", "command -v xz", "xz-utils"),
    ];

    public override WorkloadScripts Build(WorkloadSpec spec)
    {
        var source = spec.Get("source");
        var find = source == "auto"
            ? "src=$(ls /usr/src/linux-source-*.tar.* 2>/dev/null | sort -V | tail -n 1); [ -n \"$src\" ] || { echo 'no kernel source: install the Debian package linux-source or give source: PATH' >&2; exit 1; }"
            : $"src={Quote(source)}; [ -f \"$src\" ] || {{ echo \"kernel source $src not found\" >&2; exit 1; }}";
        var jobs = spec.GetLong("jobs") == 0 ? "$(nproc)" : spec.GetLong("jobs").ToString(CultureInfo.InvariantCulture);
        var target = spec.Get("target") == "all" ? "" : Quote(spec.Get("target"));
        // The tree is extracted once per guest into a shared cache (untimed) and built out of tree (O=build), so no
        // experiment pays for the extraction and every round starts from an empty build directory.
        var extract = $"{find}\ncache=\"{SourceCache}/$(basename \"$src\")\"\n" +
            "if [ ! -f \"$cache/.horizon-extracted\" ]; then rm -rf \"$cache.tmp\" && mkdir -p \"$cache.tmp\" && tar -xf \"$src\" -C \"$cache.tmp\" --strip-components=1 && touch \"$cache.tmp/.horizon-extracted\" && rm -rf \"$cache\" && mv \"$cache.tmp\" \"$cache\"; fi\n" +
            "ln -sfn \"$cache\" linux-src";
        return new WorkloadScripts(
            Prepare: extract,
            BeforeRound: "rm -rf build",
            Round: $"make -C linux-src -s O=\"$PWD/build\" defconfig && make -C linux-src -s O=\"$PWD/build\" -j{jobs} {target}",
            Cleanup: "rm -rf build linux-src",
            KitFiles: ImmutableDictionary<string, string>.Empty);
    }

    /// <summary>Where guests keep extracted kernel trees between experiments (the lab pre-fills it in VM disks).</summary>
    public const string SourceCache = "/var/tmp/horizon-kernel-src";
}

/// <summary>Any command as a workload; rounds are still timed by probes.</summary>
public sealed class CommandWorkload : WorkloadDefinition
{
    public override string Name => "command";

    public override string Description => "a user-given command";

    public override ImmutableArray<ParameterDefinition> Parameters { get; } =
    [
        new("run", ParameterKind.Text, null, "the command timed in each round (bash)"),
        new("setup", ParameterKind.Text, "", "run once before the first round (untimed)"),
        new("before", ParameterKind.Text, "", "run before each round (untimed)"),
        new("cleanup", ParameterKind.Text, "", "run after the last round"),
        new("metrics", ParameterKind.Text, "", "extra metrics from each round's output: one 'name=REGEX' per line, the first group a number"),
        new("variant", ParameterKind.Text, "", "set by a campaign's sweep: the values this experiment's {placeholders} took"),
    ];

    public override WorkloadScripts Build(WorkloadSpec spec) => new(
        spec.Get("setup"), spec.Get("before"), spec.Get("run"), spec.Get("cleanup"), ImmutableDictionary<string, string>.Empty)
    {
        ReportOutput = spec.Get("metrics").Length > 0,
    };

    /// <summary>Parses the 'metrics' parameter: name=REGEX lines; a regex must compile and have a capture group.</summary>
    public static IReadOnlyList<(string Name, System.Text.RegularExpressions.Regex Pattern)> MetricPatterns(string text)
    {
        var list = new List<(string, System.Text.RegularExpressions.Regex)>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var name = eq > 0 ? line[..eq].Trim() : "";
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.'))
            {
                throw new FormatException($"'{line}' is not name=REGEX (name: letters, digits, '_' or '.')");
            }

            if (name is "duration" or Results.RoundResult.StartMetric)
            {
                throw new FormatException($"metric name '{name}' is reserved");
            }

            System.Text.RegularExpressions.Regex regex;
            try
            {
                regex = new System.Text.RegularExpressions.Regex(line[(eq + 1)..], System.Text.RegularExpressions.RegexOptions.Multiline, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                throw new FormatException($"metric '{name}': {e.Message}");
            }

            if (regex.GetGroupNumbers().Length < 2)
            {
                throw new FormatException($"metric '{name}': the regex needs a capture group around the number, e.g. rate=([0-9.]+) req/s");
            }

            list.Add((name, regex));
        }

        return list;
    }

    public override IReadOnlyDictionary<string, double> ParseOutput(WorkloadSpec spec, string output)
    {
        var values = new Dictionary<string, double>();
        foreach (var (name, regex) in MetricPatterns(spec.Get("metrics")))
        {
            System.Text.RegularExpressions.Match m;
            try
            {
                m = regex.Match(output);
            }
            catch (System.Text.RegularExpressions.RegexMatchTimeoutException)
            {
                // A pattern that backtracks without end fails this round's metric, never the campaign.
                throw new FormatException($"metric '{name}': /{regex}/ gave up after {regex.MatchTimeout.TotalSeconds:0.#} s on {output.Length} characters of output (a pattern like (a+)+ backtracks without end; anchor it or make it simpler)");
            }

            if (!m.Success)
            {
                throw new FormatException($"metric '{name}': /{regex}/ matched nothing in the round's output");
            }

            values[name] = double.TryParse(m.Groups[1].Value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)
                ? v : throw new FormatException($"metric '{name}': '{m.Groups[1].Value}' is not a number");
        }

        return values;
    }
}
