using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The fake `docker` and `podman` the fast tests use, held against what the real engines printed here
/// (Reference/container-engines-outputs.txt, recorded by scripts/record-engine-outputs.sh from Debian's docker.io and
/// podman): every command the container adapter runs, its errors and exit codes, replay verbatim on the fakes.
/// </summary>
[Collection("machine")]
public sealed partial class FakeEngineTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-fakeengine-").FullName;

    private static readonly string[] Reference = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", "container-engines-outputs.txt"));

    public void Dispose() => Directory.Delete(dir, recursive: true);

    // What differs between runs of the real tools: podman's container id and its temporary resources file.
    [GeneratedRegex("[0-9a-f]{64}|/var/tmp/podman[0-9]+")]
    private static partial Regex RunSpecific();

    private static List<(string Command, string Output, int Rc)> Blocks()
    {
        var blocks = new List<(string, string, int)>();
        for (var i = 0; i < Reference.Length; i++)
        {
            if (!Reference[i].StartsWith("### ", StringComparison.Ordinal) || Reference[i].StartsWith("### rc=", StringComparison.Ordinal))
            {
                continue;
            }

            var output = new List<string>();
            var j = i + 1;
            for (; !Reference[j].StartsWith("### rc=", StringComparison.Ordinal); j++)
            {
                output.Add(Reference[j]);
            }

            blocks.Add((Reference[i][4..], string.Join('\n', output), int.Parse(Reference[j][7..], System.Globalization.CultureInfo.InvariantCulture)));
            i = j;
        }

        return blocks;
    }

    private (string Output, int Rc) Fake(string command)
    {
        var engine = command.Split(' ')[0];
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "FakeTools", engine)) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var word in command.Split(' ').Skip(1))
        {
            start.ArgumentList.Add(word);
        }

        start.Environment["FAKE_STATE"] = Path.Combine(dir, engine);
        start.Environment["FAKE_PCPUS"] = "2";
        start.Environment["FAKE_CONTAINERS"] = "c1";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (output.TrimEnd(), p.ExitCode);
    }

    [Theory]
    [InlineData("docker")]
    [InlineData("podman")]
    public void Every_recorded_command_replays_on_the_fake_with_the_same_output_and_exit_code(string engine)
    {
        // The recorded session: c1 created with --cpuset-cpus 1 on a 2-CPU machine.
        Directory.CreateDirectory(Path.Combine(dir, engine));
        File.WriteAllText(Path.Combine(dir, engine, $"{engine}-c1"), "1");
        File.WriteAllText(Path.Combine(dir, engine, $"{engine}-created-c1"), "1");
        var blocks = Blocks().Where(b => b.Command.StartsWith(engine + " ", StringComparison.Ordinal)).ToList();
        Assert.Equal(7, blocks.Count);
        foreach (var (command, output, rc) in blocks)
        {
            var (fake, fakeRc) = Fake(command);
            Assert.True(rc == fakeRc, $"`{command}`: the real {engine} exits {rc}, the fake {fakeRc}");
            Assert.Equal(RunSpecific().Replace(output, "…"), RunSpecific().Replace(fake, "…"));
        }

        // The reason the adapter reads the kernel: podman's inspect kept the creation value after the update.
        Assert.Equal(engine == "podman" ? "1" : "0", Blocks().Single(b => b.Command == $"{engine} inspect --format {{{{.HostConfig.CpusetCpus}}}} c1").Output);
    }
}
