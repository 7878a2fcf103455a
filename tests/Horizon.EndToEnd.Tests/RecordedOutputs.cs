using System.Diagnostics;

namespace Horizon.EndToEnd.Tests;

/// <summary>
/// Outputs recorded from a real platform tool (Reference/*.txt: "### TOOL ARGS", its output, "### rc=N") and the fake
/// tool of the fast tests run on the same arguments: what the Fake*Tests hold the fakes to.
/// </summary>
internal static class RecordedOutputs
{
    /// <summary>The recorded blocks whose command starts with <paramref name="tool"/>: command, output (lines joined), exit code.</summary>
    public static List<(string Command, string Output, int Rc)> Blocks(string file, string tool)
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Reference", file));
        var blocks = new List<(string, string, int)>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith($"### {tool} ", StringComparison.Ordinal))
            {
                continue;
            }

            var output = new List<string>();
            var j = i + 1;
            for (; !lines[j].StartsWith("### rc=", StringComparison.Ordinal); j++)
            {
                output.Add(lines[j]);
            }

            blocks.Add((lines[i][4..], string.Join('\n', output), int.Parse(lines[j][7..], System.Globalization.CultureInfo.InvariantCulture)));
            i = j;
        }

        return blocks;
    }

    /// <summary>Runs the fake tool named by the command's first word with the command's arguments; its output (stdout then stderr, trimmed) and exit code.</summary>
    public static (string Output, int Rc) Fake(string command, IReadOnlyDictionary<string, string> environment)
    {
        var words = command.Split(' ');
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "FakeTools", words[0])) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var word in words.Skip(1))
        {
            start.ArgumentList.Add(word);
        }

        foreach (var (k, v) in environment)
        {
            start.Environment[k] = v;
        }

        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (output.TrimEnd(), p.ExitCode);
    }
}
