using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Horizon.Config;

/// <summary>
/// Checks a YAML text's shape before it is loaded, in one pass over the parser's events: its size, its node count with
/// every alias counted as the nodes it stands for (an alias nest of 9 levels is a billion nodes in 1 KB), one document,
/// and scalar mapping keys only (a mapping used as a key is hashed and compared recursively by the loader: exponential
/// through aliases, and no testbed or campaign field needs one). Errors name the file, line and field path.
/// </summary>
public static class YamlBounds
{
    /// <summary>The largest testbed or campaign text read (the API's request body limit is the same size).</summary>
    public const int MaxChars = 1 << 20;

    /// <summary>Most nodes a document may stand for, aliases expanded: far above a study campaign (a few hundred).</summary>
    public const int MaxNodes = 100_000;

    private sealed class Frame(bool mapping)
    {
        public bool Mapping { get; } = mapping;

        public bool AtKey { get; set; } = mapping;

        public string? Key { get; set; }

        public int Index { get; set; } = -1;

        public string? Anchor { get; init; }

        public long StartCount { get; init; }
    }

    /// <summary>Throws a <see cref="ConfigException"/> naming what is wrong and where; returns when the text is within bounds.</summary>
    public static void Check(string file, string text)
    {
        if (text.Length > MaxChars)
        {
            throw new ConfigException(file, 1, 1, "(document)", $"the file has {text.Length} characters; at most {MaxChars} are read");
        }

        var parser = new Parser(new StringReader(text));
        var frames = new Stack<Frame>();
        var sizes = new Dictionary<string, (long Nodes, bool Scalar)>(StringComparer.Ordinal);
        long count = 0;
        var documents = 0;
        var last = Mark.Empty;
        while (Next(file, parser, ref last))
        {
            var e = parser.Current!;
            switch (e)
            {
                case DocumentStart:
                    if (++documents > 1)
                    {
                        throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, "(document)",
                            "a second YAML document ('---') is not read: put one testbed or one campaign in a file");
                    }

                    break;
                case Scalar s:
                    if (s.Value.Length == 0 && s.Style == ScalarStyle.Plain && frames.TryPeek(out var f) && f.Mapping && f.AtKey)
                    {
                        throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, PathOf(frames) is { Length: > 0 } at && at != "(document)" ? $"{at} (key)" : "(key)",
                            "a value without a name (a line starting with ':')");
                    }

                    Enter(file, frames, e, isScalar: true, s.Value);
                    count++;
                    Remember(sizes, s.Anchor, 1, scalar: true);
                    Leave(frames);
                    break;
                case AnchorAlias a:
                    var (nodes, scalar) = sizes.TryGetValue(a.Value.Value, out var known) ? known : (0, true);
                    Enter(file, frames, e, scalar, key: null);
                    count += nodes;
                    Leave(frames);
                    break;
                case NodeEvent n and (MappingStart or SequenceStart):
                    Enter(file, frames, e, isScalar: false, key: null);
                    count++;
                    frames.Push(new Frame(n is MappingStart) { Anchor = n.Anchor.IsEmpty ? null : n.Anchor.Value, StartCount = count - 1 });
                    break;
                case MappingEnd or SequenceEnd:
                    var done = frames.Pop();
                    Remember(sizes, done.Anchor is null ? AnchorName.Empty : new AnchorName(done.Anchor), count - done.StartCount, scalar: false);
                    Leave(frames);
                    break;
            }

            if (count > MaxNodes)
            {
                throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, PathOf(frames),
                    $"the document stands for more than {MaxNodes} values once its aliases (*name) are expanded; a testbed or campaign needs far fewer");
            }
        }
    }

    private static bool Next(string file, Parser parser, ref Mark last)
    {
        try
        {
            var more = parser.MoveNext();
            last = parser.Current?.End ?? last;
            return more;
        }
        catch (InvalidOperationException)
        {
            throw new ConfigException(file, (int)last.Line, (int)last.Column, "(syntax)", "malformed YAML (an unclosed [ or { ?)");
        }
    }

    private static void Remember(Dictionary<string, (long, bool)> sizes, AnchorName anchor, long nodes, bool scalar)
    {
        if (!anchor.IsEmpty)
        {
            sizes[anchor.Value] = (nodes, scalar);
        }
    }

    /// <summary>A node begins inside the current frame: a mapping's key must be a scalar; the path gains its key or index.</summary>
    private static void Enter(string file, Stack<Frame> frames, ParsingEvent e, bool isScalar, string? key)
    {
        if (!frames.TryPeek(out var frame))
        {
            return;
        }

        if (frame.Mapping && frame.AtKey)
        {
            if (!isScalar)
            {
                throw new ConfigException(file, (int)e.Start.Line, (int)e.Start.Column, PathOf(frames) is var p && p.Length > 0 ? $"{p} (key)" : "(key)",
                    "a mapping key must be a plain name, not a list or a mapping ('? ' keys and aliases of lists or mappings are not read)");
            }

            frame.Key = key ?? "*";
        }
        else if (!frame.Mapping)
        {
            frame.Index++;
        }
    }

    /// <summary>A node ended: in a mapping, a key is followed by its value and a value by the next key.</summary>
    private static void Leave(Stack<Frame> frames)
    {
        if (frames.TryPeek(out var frame) && frame.Mapping)
        {
            frame.AtKey = !frame.AtKey;
        }
    }

    private static string PathOf(Stack<Frame> frames)
    {
        var path = "";
        foreach (var f in frames.Reverse())
        {
            path += f.Mapping ? (f.Key is null ? "" : path.Length == 0 ? f.Key : $".{f.Key}") : $"[{Math.Max(f.Index, 0)}]";
        }

        return path.Length == 0 ? "(document)" : path;
    }
}
