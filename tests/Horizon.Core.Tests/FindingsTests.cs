using System.Collections.Immutable;
using Horizon.Reports;
using Horizon.Results;

namespace Horizon.Core.Tests;

public sealed class FindingsTests
{
    private static ExperimentResult E(string platform, string workload, string scheme, int guests, double mean, int cpus = 2, double cv = 0.01, string campaign = "c")
    {
        var names = Enumerable.Range(1, guests).Select(i => $"g{i}").ToImmutableArray();
        var env = $$"""{"guests":[{{string.Join(",", names.Select(_ => $$"""{"vcpus":1,"cpus":{{cpus}}}"""))}}]}""";
        var rounds = names.SelectMany((g, gi) => Enumerable.Range(0, 6).Select(r =>
            new RoundResult(gi, g, r, true, mean * (1 + (cv * ((r % 3) - 1))), null, null, 0, null, r))).ToImmutableArray();
        return new ExperimentResult(Guid.NewGuid(), campaign, $"{workload}|{platform}|{scheme}|{guests}", workload, ImmutableSortedDictionary<string, string>.Empty,
            names, [.. names.Select(_ => platform)], scheme, "Completed", null, null, env, 0, 1, null, rounds);
    }

    private static Finding Find(IReadOnlyList<ExperimentResult> experiments, string start) =>
        StudyFindings.Evaluate(experiments).Single(f => f.Claim.StartsWith(start, StringComparison.Ordinal));

    [Fact]
    public void A_container_at_native_speed_reproduces_the_finding_and_a_slow_one_does_not()
    {
        var native = E("native", "superpi", "default", 1, 1.0);
        Assert.Equal(FindingStatus.Reproduced, Find([native, E("lxc", "superpi", "default", 1, 1.005)], "Containers").Status);
        var slow = Find([native, E("lxc", "superpi", "default", 1, 1.3)], "Containers");
        Assert.Equal(FindingStatus.NotReproduced, slow.Status);
        Assert.Contains("lxc superpi: 1.300", slow.Evidence, StringComparison.Ordinal);
        Assert.Equal(FindingStatus.NotMeasured, Find([native], "Containers").Status);
        // Five noisy rounds whose interval straddles the ±5 % band decide nothing.
        Assert.Equal(FindingStatus.Inconclusive, Find([native, E("lxc", "superpi", "default", 1, 1.03, cv: 0.08)], "Containers").Status);
    }

    [Fact]
    public void Shared_core_and_default_schemes_are_judged_by_guest_count_and_cores()
    {
        // One core for two guests: each twice as slow, fairly. The default scheme on 2 CPUs: two 1-vCPU guests fit.
        List<ExperimentResult> fits =
        [
            E("lxc", "superpi", "shared-core", 1, 1.0), E("lxc", "superpi", "shared-core", 2, 2.0),
            E("lxc", "superpi", "default", 1, 1.0), E("lxc", "superpi", "default", 2, 1.02),
        ];
        Assert.Equal(FindingStatus.Reproduced, Find(fits, "One shared core").Status);
        Assert.Equal(FindingStatus.Reproduced, Find(fits, "The platform's own scheduler").Status);
        Assert.Equal(FindingStatus.NotMeasured, Find(fits, "One exclusive core").Status);

        // Four 1-vCPU guests on 2 CPUs under default must be slower; flat there contradicts the finding.
        List<ExperimentResult> crowded = [E("lxc", "superpi", "default", 1, 1.0), E("lxc", "superpi", "default", 4, 1.01)];
        Assert.Equal(FindingStatus.NotReproduced, Find(crowded, "The platform's own scheduler").Status);
        // Inside a VM a guest counts its own vCPU, not the host's CPUs: the host's topology as placement found it decides.
        var vm = E("qemu", "superpi", "default", 2, 1.02, cpus: 1);
        vm = vm with { EnvironmentJson = vm.EnvironmentJson[..^1] + ""","host_control":{"host1":{"topology":"2 logical CPU(s), 2 core(s), 1 socket(s)","control":null}}}""" };
        var inVm = Find([E("qemu", "superpi", "default", 1, 1.0, cpus: 1), vm], "The platform's own scheduler");
        Assert.Equal(FindingStatus.Reproduced, inVm.Status);
        Assert.Contains("2 vCPUs on 2 CPUs", inVm.Evidence, StringComparison.Ordinal);
        List<ExperimentResult> unfair = [E("lxc", "superpi", "shared-core", 1, 1.0), E("lxc", "superpi", "shared-core", 2, 1.2)];
        Assert.Equal(FindingStatus.NotReproduced, Find(unfair, "One shared core").Status);
    }

    [Fact]
    public void Buffer_dirtying_and_network_findings_need_their_pairs()
    {
        var zfg = E("native", "zfg", "default", 1, 1.0);
        Assert.Equal(FindingStatus.Reproduced, Find([zfg, E("native", "zfg-dirty", "default", 1, 1.6)], "Dirtying").Status);
        Assert.Equal(FindingStatus.NotReproduced, Find([zfg, E("native", "zfg-dirty", "default", 1, 1.0)], "Dirtying").Status);
        Assert.Equal(FindingStatus.Inconclusive, Find([E("native", "zfg", "default", 1, 1.0, cv: 0.3), E("native", "zfg-dirty", "default", 1, 1.1, cv: 0.3)], "Dirtying").Status);
        Assert.Equal(FindingStatus.NotMeasured, Find([zfg], "Dirtying").Status);
        Assert.Equal(FindingStatus.NotMeasured, Find([zfg], "At a rate below line rate").Status);
    }
}
