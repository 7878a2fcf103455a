using System.Text.RegularExpressions;

namespace Horizon.Config;

/// <summary>
/// What a campaign may be called, wherever the name comes from (a campaign file, `--name`, the API): it becomes a store
/// key, a URL segment, a file name of exports and reports, and a metric label, so one rule holds everywhere.
/// </summary>
public static partial class CampaignName
{
    public const string Rule = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex Pattern();

    public static bool IsValid(string? name) => name is not null && Pattern().IsMatch(name);

    /// <summary>Why <paramref name="name"/> cannot name a campaign, or null; the name is shortened in the message.</summary>
    public static string? Problem(string? name) =>
        IsValid(name) ? null : $"'{Shown(name ?? "")}' is not a campaign name: {Rule}";

    private static string Shown(string name) => name.Length > 40 ? $"{name[..40]}… ({name.Length} characters)" : name;
}
