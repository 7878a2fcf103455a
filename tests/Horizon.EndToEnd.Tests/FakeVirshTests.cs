using System.Text.RegularExpressions;
using Horizon.Scheduler.Platforms;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The fake `virsh` the fast tests use, held against what the real virsh (libvirt 9, a TCG domain of the lab) printed
/// here (Reference/libvirt-9-virsh-outputs.txt, recorded by scripts/record-virsh-outputs.sh): every command of the kvm
/// adapter replays with the same output, errors and exit codes; only the domain's CPU time differs between runs.
/// </summary>
[Collection("machine")]
public sealed partial class FakeVirshTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-fakevirsh-").FullName;

    [GeneratedRegex(@"CPU time:\s+\S+")]
    private static partial Regex CpuTime();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private (string Output, int Rc) Fake(string command) =>
        RecordedOutputs.Fake(command, new Dictionary<string, string> { ["FAKE_STATE"] = dir, ["FAKE_PCPUS"] = "2" });

    [Fact]
    public void Every_recorded_command_replays_on_the_fake_with_the_same_output_and_exit_code()
    {
        File.WriteAllText(Path.Combine(dir, "kvm-domains"), "host1-kvm1\n");
        var blocks = RecordedOutputs.Blocks("libvirt-9-virsh-outputs.txt", "virsh");
        foreach (var (command, output, rc) in blocks)
        {
            var (fake, fakeRc) = Fake(command);
            Assert.True(rc == fakeRc, $"`{command}`: the real virsh exits {rc}, the fake {fakeRc}");
            Assert.Equal(CpuTime().Replace(output.TrimEnd(), "CPU time: …"), CpuTime().Replace(fake, "CPU time: …"));
        }

        Assert.Equal(13, blocks.Count);
    }

    [Fact]
    public void The_adapter_parses_the_real_outputs()
    {
        string Block(string command) => RecordedOutputs.Blocks("libvirt-9-virsh-outputs.txt", "virsh").First(b => b.Command == command).Output;
        Assert.Equal("2 logical CPU(s), 2 core(s), 1 socket(s)", KvmAdapter.ParseNodeInfo(Block("virsh nodeinfo")).Describe());
        Assert.Equal(["0-1"], KvmAdapter.ParseVcpuInfo(Block("virsh vcpuinfo host1-kvm1")));
    }
}
