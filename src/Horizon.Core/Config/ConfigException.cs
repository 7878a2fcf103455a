namespace Horizon.Config;

/// <summary>A problem in a testbed or campaign file, located by file, line and field.</summary>
public sealed class ConfigException(string file, int line, int column, string field, string problem)
    : Exception($"{file}:{line}:{column}: {field}: {problem}")
{
    public string File { get; } = file;

    public int Line { get; } = line;

    public int Column { get; } = column;

    public string Field { get; } = field;

    public string Problem { get; } = problem;
}
