using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Horizon.Config;

/// <summary>A YAML mapping read field by field; every error names the file, the line and the field path.</summary>
public sealed class YamlFields
{
    private readonly YamlMappingNode node;
    private readonly HashSet<string> seen = [];

    public YamlFields(string file, string path, YamlNode node)
    {
        File = file;
        Path = path;
        if (node is not YamlMappingNode mapping)
        {
            throw Error(node, path, "expected a mapping (key: value lines)");
        }

        this.node = mapping;
    }

    public string File { get; }

    public string Path { get; }

    public YamlNode Node => node;

    /// <summary>A testbed or campaign file's text; a missing or oversized file (a log, a disk image) is refused by name.</summary>
    public static string ReadFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new ConfigException(path, 0, 0, "(file)", Directory.Exists(path) ? "is a directory, not a file" : "no such file");
        }

        // UTF-8 takes at most 4 bytes a character: anything larger cannot be within the character bound.
        if (info.Length > 4L * YamlBounds.MaxChars)
        {
            throw new ConfigException(path, 0, 0, "(file)", $"is {info.Length} bytes; a testbed or campaign file is read up to {YamlBounds.MaxChars} characters");
        }

        return System.IO.File.ReadAllText(path);
    }

    public static YamlNode LoadDocument(string file, string text)
    {
        // Walk the events first: the parser reports syntax errors with a position, the loader does not always; and the
        // text's size, alias expansion and key shapes are bounded before the loader builds anything.
        try
        {
            YamlBounds.Check(file, text);
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, "(syntax)", e.InnerException?.Message ?? e.Message);
        }

        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, "(syntax)", e.InnerException?.Message ?? e.Message);
        }
        catch (InvalidOperationException)
        {
            throw new ConfigException(file, 0, 0, "(syntax)", "malformed YAML (an unclosed [ or { ?)");
        }
        catch (ArgumentException e)
        {
            throw new ConfigException(file, 0, 0, "(syntax)", $"YAML the loader cannot read: {e.Message}");
        }

        if (stream.Documents.Count == 0)
        {
            throw new ConfigException(file, 1, 1, "(document)", "the file is empty");
        }

        return stream.Documents[0].RootNode;
    }

    public ConfigException Error(YamlNode at, string field, string problem) =>
        new(File, (int)at.Start.Line, (int)at.Start.Column, field, problem);

    public ConfigException Error(string key, string problem) =>
        Error(TryGet(key, out var value) ? value : node, FieldPath(key), problem);

    public string FieldPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public bool Has(string key) => TryGet(key, out _);

    public bool TryGet(string key, [NotNullWhen(true)] out YamlNode? value)
    {
        seen.Add(key);
        foreach (var (k, v) in node.Children)
        {
            if (k is YamlScalarNode s && s.Value == key)
            {
                value = v;
                return true;
            }
        }

        value = null;
        return false;
    }

    public IEnumerable<string> Keys => node.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "");

    public YamlNode Require(string key) =>
        TryGet(key, out var value) ? value : throw Error(node, FieldPath(key), "is required");

    public string RequireString(string key) => Scalar(key, Require(key));

    public string? OptionalString(string key) => TryGet(key, out var v) ? Scalar(key, v) : null;

    public int OptionalInt(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!TryGet(key, out var v))
        {
            return fallback;
        }

        var text = Scalar(key, v);
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(v, FieldPath(key), $"expected an integer, got '{text}'");
        }

        if (value < min || value > max)
        {
            throw Error(v, FieldPath(key), max == int.MaxValue ? $"must be at least {min}, got {value}" : $"must be between {min} and {max}, got {value}");
        }

        return value;
    }

    public double? OptionalDouble(string key, double min, double max)
    {
        if (!TryGet(key, out var v))
        {
            return null;
        }

        var text = Scalar(key, v).TrimEnd('%');
        var percent = Scalar(key, v).EndsWith('%');
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(v, FieldPath(key), $"expected a number, got '{Scalar(key, v)}'");
        }

        value = percent ? value / 100 : value;
        if (value < min || value > max)
        {
            throw Error(v, FieldPath(key), $"must be between {min} and {max}, got {value}");
        }

        return value;
    }

    public bool OptionalBool(string key, bool fallback)
    {
        if (!TryGet(key, out var v))
        {
            return fallback;
        }

        return Scalar(key, v) switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            var other => throw Error(v, FieldPath(key), $"expected true or false, got '{other}'"),
        };
    }

    public TimeSpan? OptionalDuration(string key)
    {
        if (!TryGet(key, out var v))
        {
            return null;
        }

        var text = Scalar(key, v);
        return Units.TryParseDuration(text, out var d) ? d : throw Error(v, FieldPath(key), $"expected a duration such as 90s, 2m or 500ms, got '{text}'");
    }

    public T OptionalEnum<T>(string key, T fallback, IReadOnlyDictionary<string, T> names)
    {
        if (!TryGet(key, out var v))
        {
            return fallback;
        }

        var text = Scalar(key, v);
        return names.TryGetValue(text, out var value) ? value : throw Error(v, FieldPath(key), $"unknown value '{text}'; expected one of: {string.Join(", ", names.Keys)}");
    }

    public IReadOnlyList<YamlNode> OptionalSequence(string key)
    {
        if (!TryGet(key, out var v))
        {
            return [];
        }

        return v is YamlSequenceNode seq ? seq.Children.ToList() : throw Error(v, FieldPath(key), "expected a list");
    }

    public IReadOnlyList<string> OptionalStringList(string key)
    {
        if (!TryGet(key, out var v))
        {
            return [];
        }

        if (v is YamlScalarNode single)
        {
            return [single.Value ?? ""];
        }

        if (v is not YamlSequenceNode seq)
        {
            throw Error(v, FieldPath(key), "expected a list of names");
        }

        return seq.Children.Select((c, i) => c is YamlScalarNode s ? s.Value ?? "" : throw Error(c, $"{FieldPath(key)}[{i}]", "expected a name")).ToList();
    }

    /// <summary>Fails on any key that was never asked for: a typo must not be silently ignored.</summary>
    public void RejectUnknown(IEnumerable<string>? alsoAllowed = null)
    {
        var allowed = new HashSet<string>(seen);
        if (alsoAllowed is not null)
        {
            allowed.UnionWith(alsoAllowed);
        }

        foreach (var (k, _) in node.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (!allowed.Contains(name))
            {
                var hint = allowed.Count > 0 ? $"; known fields: {string.Join(", ", allowed.Order())}" : "";
                throw Error(k, FieldPath(name), $"unknown field{hint}");
            }
        }
    }

    public string Scalar(string key, YamlNode v) =>
        v is YamlScalarNode s ? s.Value ?? "" : throw Error(v, FieldPath(key), "expected a single value");
}
