using Horizon.Config;
using Horizon.Scheduler.Platforms;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// The fake `govc` the fast tests use, held against what the real govc 0.24 printed against vcsim here
/// (Reference/govc-0.24-vcsim-outputs.txt, recorded by scripts/record-govc-outputs.sh): the same exit codes, the same
/// messages, and JSON the ESXi adapter reads the same way (affinity, last key winning; host CPUs; an unknown VM).
/// </summary>
[Collection("machine")]
public sealed class FakeGovcTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("horizon-fakegovc-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static List<(string Command, string Output, int Rc)> Blocks() => RecordedOutputs.Blocks("govc-0.24-vcsim-outputs.txt", "govc");

    private (string Output, int Rc) Fake(string command) => RecordedOutputs.Fake(command, new Dictionary<string, string>
    {
        ["FAKE_STATE"] = dir,
        ["FAKE_PCPUS"] = "2",
        ["FAKE_SOCKETS"] = "2",
        ["FAKE_VMS"] = "DC0_H0_VM0",
    });

    [Fact]
    public void Every_recorded_command_replays_on_the_fake_and_the_adapter_reads_both_alike()
    {
        var blocks = Blocks();
        Assert.Equal(7, blocks.Count);
        foreach (var (command, output, rc) in blocks)
        {
            var (fake, fakeRc) = Fake(command);
            Assert.True(rc == fakeRc, $"`{command}`: the real govc exits {rc}, the fake {fakeRc}");
            if (!output.StartsWith('{'))
            {
                Assert.Equal(output, fake);
                continue;
            }

            if (command.StartsWith("govc host.info", StringComparison.Ordinal))
            {
                // vcsim's canned host: 2 packages, 2 cores, 2 threads (not this machine's CPUs).
                var (real, mine) = (EsxiAdapter.ParseHostInfo(output), EsxiAdapter.ParseHostInfo(fake));
                Assert.Equal(real.Describe(), mine.Describe());
                Assert.Equal("2 logical CPU(s), 2 core(s), 2 socket(s)", real.Describe());
                continue;
            }

            var vm = command.Split(' ')[^1];
            if (vm == "nosuch")
            {
                Assert.Equal("{\"VirtualMachines\":null}", output);
                Assert.Contains("knows no VM 'nosuch'", Assert.Throws<TestbedException>(() => EsxiAdapter.ParseAffinity(output, vm)).Message, StringComparison.Ordinal);
                Assert.Throws<TestbedException>(() => EsxiAdapter.ParseAffinity(fake, vm));
                continue;
            }

            // vcsim appended the key on each change (1, 1, 0, 0 after two changes, each run twice): the last one counts.
            Assert.Equal(EsxiAdapter.ParseAffinity(output, vm), EsxiAdapter.ParseAffinity(fake, vm));
        }

        Assert.Equal("0", EsxiAdapter.ParseAffinity(blocks[3].Output, "DC0_H0_VM0"));
    }

    [Fact]
    public void Newer_govc_camel_case_json_reads_the_same()
    {
        // govc ≥ 0.31 prints camelCase; the adapter accepts both.
        const string camel = """{"virtualMachines":[{"name":"vm","config":{"extraConfig":[{"key":"sched.cpu.affinity","value":"2"},{"key":"sched.cpu.affinity","value":"3"}]}}]}""";
        Assert.Equal("3", EsxiAdapter.ParseAffinity(camel, "vm"));
        const string host = """{"hostSystems":[{"hardware":{"cpuInfo":{"numCpuPackages":1,"numCpuCores":4,"numCpuThreads":8}}}]}""";
        Assert.Equal("8 logical CPU(s), 4 core(s), 1 socket(s)", EsxiAdapter.ParseHostInfo(host).Describe());
    }
}
