using System.Globalization;

namespace Horizon.Grains;

/// <summary>One round of one guest of an experiment: the identity under which a round is recorded once.</summary>
[GenerateSerializer, Immutable, Alias("horizon.round-key")]
public readonly record struct RoundKey([property: Id(0)] int Guest, [property: Id(1)] int Round)
{
    public static RoundKey Of(RoundRecord round) => new(round.GuestIndex, round.Round);

    /// <summary>Reads the "guest:round" text of grain state written before keys were typed.</summary>
    public static RoundKey Parse(string text)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon > 0
            && int.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var guest)
            && int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var round)
            ? new RoundKey(guest, round)
            : throw new FormatException($"'{text}' is not a round key (guest:round)");
    }

    public override string ToString() => $"{Guest}:{Round}";
}
