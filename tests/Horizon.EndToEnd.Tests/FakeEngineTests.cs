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

    public void Dispose() => Directory.Delete(dir, recursive: true);

    // What differs between runs of the real tools: podman's container id and its temporary resources file.
    [GeneratedRegex("[0-9a-f]{64}|/var/tmp/podman[0-9]+")]
    private static partial Regex RunSpecific();

    private static List<(string Command, string Output, int Rc)> Blocks() => [.. RecordedOutputs.Blocks("container-engines-outputs.txt", "docker"), .. RecordedOutputs.Blocks("container-engines-outputs.txt", "podman")];

    private (string Output, int Rc) Fake(string command) => RecordedOutputs.Fake(command, new Dictionary<string, string>
    {
        ["FAKE_STATE"] = Path.Combine(dir, command.Split(' ')[0]),
        ["FAKE_PCPUS"] = "2",
        ["FAKE_CONTAINERS"] = "c1",
    });

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
