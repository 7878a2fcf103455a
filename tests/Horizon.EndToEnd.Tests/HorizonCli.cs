using System.Diagnostics;

namespace Horizon.EndToEnd.Tests;

/// <summary>The real `horizon` command line in a process of its own, its output to a pipe (as in CI logs).</summary>
internal static class HorizonCli
{
    /// <summary>Runs `horizon ARGS`; COLUMNS is set to <c>columns</c>, or left unset when it is null. Exit code and all output.</summary>
    public static async Task<(int Code, string Output)> RunAsync(int? columns, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "horizon.dll"));
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        if (columns is { } c)
        {
            start.Environment["COLUMNS"] = c.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            start.Environment.Remove("COLUMNS");
        }

        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        return (p.ExitCode, await output + await error);
    }
}
