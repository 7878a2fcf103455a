using System.Diagnostics;
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

    private static readonly string[] Reference = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "libvirt-9-virsh-outputs.txt"));

    [GeneratedRegex(@"CPU time:\s+\S+")]
    private static partial Regex CpuTime();

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private (string Output, int Rc) Fake(string command)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "FakeTools", "virsh")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var word in command.Split(' ').Skip(1))
        {
            start.ArgumentList.Add(word);
        }

        start.Environment["FAKE_STATE"] = dir;
        start.Environment["FAKE_PCPUS"] = "2";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (output.TrimEnd(), p.ExitCode);
    }

    [Fact]
    public void Every_recorded_command_replays_on_the_fake_with_the_same_output_and_exit_code()
    {
        File.WriteAllText(Path.Combine(dir, "kvm-domains"), "host1-kvm1\n");
        var replayed = 0;
        for (var i = 0; i < Reference.Length; i++)
        {
            if (!Reference[i].StartsWith("### virsh ", StringComparison.Ordinal))
            {
                continue;
            }

            var command = Reference[i][4..];
            var output = new List<string>();
            var j = i + 1;
            for (; !Reference[j].StartsWith("### rc=", StringComparison.Ordinal); j++)
            {
                output.Add(Reference[j]);
            }

            var rc = int.Parse(Reference[j][7..], System.Globalization.CultureInfo.InvariantCulture);
            var (fake, fakeRc) = Fake(command);
            Assert.True(rc == fakeRc, $"`{command}`: the real virsh exits {rc}, the fake {fakeRc}");
            Assert.Equal(CpuTime().Replace(string.Join('\n', output).TrimEnd(), "CPU time: …"), CpuTime().Replace(fake, "CPU time: …"));
            i = j;
            replayed++;
        }

        Assert.Equal(13, replayed);
    }

    [Fact]
    public void The_adapter_parses_the_real_outputs()
    {
        string Block(string command) => string.Join('\n', Reference.SkipWhile(l => l != $"### {command}").Skip(1).TakeWhile(l => !l.StartsWith("### rc=", StringComparison.Ordinal)));
        Assert.Equal("2 logical CPU(s), 2 core(s), 1 socket(s)", KvmAdapter.ParseNodeInfo(Block("virsh nodeinfo")).Describe());
        Assert.Equal(["0-1"], KvmAdapter.ParseVcpuInfo(Block("virsh vcpuinfo host1-kvm1")));
    }
}
