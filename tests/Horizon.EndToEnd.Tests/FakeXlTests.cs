using System.Diagnostics;
using Horizon.Config;
using Horizon.Scheduler.Platforms;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The fake `xl` the fast tests use, held against outputs recorded from a real xl (Xen 4.17 nested in QEMU, in this
/// environment; Reference/xen-4.17-xl-outputs.txt): the fake and the real tool cannot drift apart unnoticed.
/// </summary>
[Collection("machine")]
public sealed class FakeXlTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-fakexl-").FullName;

    private static readonly string[] Reference = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "xen-4.17-xl-outputs.txt"));

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>The recorded blocks: "### [$ ]command", its output (stdout and stderr), "### rc=N".</summary>
    private static List<(string Command, bool Replayed, string[] Output, int Rc)> Blocks()
    {
        var blocks = new List<(string, bool, string[], int)>();
        for (var i = 0; i < Reference.Length; i++)
        {
            if (!Reference[i].StartsWith("### ", StringComparison.Ordinal) || Reference[i].StartsWith("### rc=", StringComparison.Ordinal))
            {
                continue;
            }

            var command = Reference[i][4..];
            var replayed = command.StartsWith("$ ", StringComparison.Ordinal);
            var output = new List<string>();
            var j = i + 1;
            for (; !Reference[j].StartsWith("### rc=", StringComparison.Ordinal); j++)
            {
                output.Add(Reference[j]);
            }

            blocks.Add((replayed ? command[2..] : command, replayed, [.. output], int.Parse(Reference[j][7..], System.Globalization.CultureInfo.InvariantCulture)));
            i = j;
        }

        return blocks;
    }

    private (string Output, int Rc) Fake(string state, string command)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"{command.Replace("xl ", Path.Combine(AppContext.BaseDirectory, "FakeTools", "xl") + " ", StringComparison.Ordinal)} 2>&1");
        start.Environment["FAKE_STATE"] = Path.Combine(dir, state);
        start.Environment["FAKE_PCPUS"] = "2";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (output, p.ExitCode);
    }

    private void State(string name, string domains)
    {
        Directory.CreateDirectory(Path.Combine(dir, name));
        File.WriteAllText(Path.Combine(dir, name, "xen-domains"), domains);
    }

    /// <summary>Where each whitespace-separated field of a line ends: the columns of a fixed-width table.</summary>
    private static List<(string Token, int End)> Columns(string line) =>
        [.. System.Text.RegularExpressions.Regex.Matches(line, @"\S+").Select(m => (m.Value, m.Index + m.Length))];

    [Fact]
    public void Every_recorded_error_and_change_replays_verbatim_on_the_fake()
    {
        // The state of the recorded session: dom0 and two domUs with 2 vCPUs each on 2 physical CPUs.
        State("b", "Domain-0 0 2\ndomu3 1 2\ndomu4 2 2\n");
        // Soft affinity and the other schedulers are not modelled by the fake (the adapters do not use them).
        string[] notModelled = ["xl vcpu-list domu4", "xl sched-credit2", "xl sched-rtds"];
        var replayed = Blocks().Where(b => b.Replayed && !notModelled.Contains(b.Command)).ToList();
        Assert.True(replayed.Count >= 15, $"only {replayed.Count} recorded commands");
        foreach (var (command, _, output, rc) in replayed)
        {
            var (fake, fakeRc) = Fake("b", command);
            Assert.True(rc == fakeRc, $"`{command}`: real xl exits {rc}, the fake {fakeRc}");
            Assert.Equal(string.Join('\n', output).TrimEnd(), fake.TrimEnd().Replace("\r", "", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("xl list")]
    [InlineData("xl vcpu-list")]
    [InlineData("xl vcpu-list domu2")]
    [InlineData("xl sched-credit")]
    [InlineData("xl sched-credit -d domu3")]
    public void Tables_have_the_real_headers_and_columns(string command)
    {
        State("a", "Domain-0 0 2\ndomu3 1 2\ndomu2 2 1\n");
        File.WriteAllText(Path.Combine(dir, "a", "xen-Domain-0-mem"), "1024");
        File.WriteAllText(Path.Combine(dir, "a", "xen-domu2-mem"), "256");
        var (_, _, real, rc) = Blocks().Single(b => !b.Replayed && b.Command == command);
        var (fake, fakeRc) = Fake("a", command);
        var lines = fake.TrimEnd().Split('\n');
        Assert.Equal(rc, fakeRc);
        Assert.Equal(real.Length, lines.Length);
        for (var i = 0; i < real.Length; i++)
        {
            if (real[i].StartsWith("Name", StringComparison.Ordinal) || real[i].StartsWith("Cpupool", StringComparison.Ordinal))
            {
                Assert.Equal(real[i], lines[i]);
                continue;
            }

            // Same domain, same fields, each ending in the same column (the values differ: times, current CPUs).
            var (r, f) = (Columns(real[i]), Columns(lines[i]));
            Assert.Equal(r[0].Token, f[0].Token);
            Assert.Equal(r.Select(c => c.End), f.Select(c => c.End));
        }
    }

    [Fact]
    public void Xl_info_fields_the_adapter_reads_are_laid_out_as_the_real_ones_and_parse_the_same()
    {
        State("a", "Domain-0 0 2\n");
        var (_, _, real, _) = Blocks().Single(b => b.Command == "xl info");
        var (fake, rc) = Fake("a", "xl info");
        Assert.Equal(0, rc);
        foreach (var line in fake.TrimEnd().Split('\n'))
        {
            var key = line[..25];
            Assert.Contains(real, r => r.StartsWith(key, StringComparison.Ordinal));
        }

        // The adapter reads the same topology from both: 2 CPUs, one socket of 2 cores, one node.
        var fromReal = XenAdapter.ParseInfo(string.Join('\n', real));
        var fromFake = XenAdapter.ParseInfo(fake);
        Assert.Equal(fromReal.Cpus, fromFake.Cpus);
        Assert.Equal("2 logical CPU(s), 2 core(s), 1 socket(s)", fromReal.Describe());
        var credit = XenAdapter.ParseSchedCredit(string.Join('\n', Blocks().First(b => b.Command == "xl sched-credit").Output));
        Assert.Equal([("Domain-0", 0, new CpuShare(256, 0)), ("domu3", 1, new CpuShare(256, 0)), ("domu2", 2, new CpuShare(256, 0))], credit);
    }
}
