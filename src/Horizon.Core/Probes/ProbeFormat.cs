using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Horizon.Probes;

public enum ProbePhase : byte
{
    Start = 1,
    End = 2,
}

/// <summary>Why a datagram was not accepted as a probe. Counted, never thrown.</summary>
public enum ProbeRejection
{
    Truncated,
    Oversized,
    BadMagic,
    BadVersion,
    BadPhase,
    BadReserved,
    UnknownExperiment,
    BadTag,
    UnknownGuest,
    RoundOutOfRange,
    ExperimentFinished,
    Replay,
    Late,
}

/// <summary>The decoded header of a probe (everything the tag covers).</summary>
public readonly record struct ProbeHeader(ProbePhase Phase, byte Copy, Guid Experiment, uint Guest, uint Round);

/// <summary>
/// Probe wire format v1: a fixed 48-byte datagram.
/// <code>
///  0  magic "HZP1"      4 bytes
///  4  version (1)       1
///  5  phase (1 start, 2 end) 1
///  6  copy index        1
///  7  reserved (0)      1
///  8  experiment id     16 (RFC 4122 byte order)
/// 24  guest index       4 (big endian)
/// 28  round index       4 (big endian)
/// 32  tag               16 = first 128 bits of HMAC-SHA256(key, bytes 0..31)
/// </code>
/// </summary>
public static class ProbeFormat
{
    public const int Size = 48;
    public const int TagOffset = 32;
    public const int TagSize = 16;
    public const byte Version = 1;
    public const int KeySize = 32;
    public static ReadOnlySpan<byte> Magic => "HZP1"u8;

    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeySize);

    public static void Encode(ProbeHeader header, ReadOnlySpan<byte> key, Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a probe needs {Size} bytes", nameof(destination));
        }

        Magic.CopyTo(destination);
        destination[4] = Version;
        destination[5] = (byte)header.Phase;
        destination[6] = header.Copy;
        destination[7] = 0;
        header.Experiment.TryWriteBytes(destination.Slice(8, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(24, 4), header.Guest);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(28, 4), header.Round);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(key, destination[..TagOffset], mac);
        mac[..TagSize].CopyTo(destination.Slice(TagOffset, TagSize));
    }

    public static byte[] Encode(ProbeHeader header, ReadOnlySpan<byte> key)
    {
        var bytes = new byte[Size];
        Encode(header, key, bytes);
        return bytes;
    }

    /// <summary>Checks the structure (not the tag) and reads the header.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> datagram, out ProbeHeader header, out ProbeRejection rejection)
    {
        header = default;
        if (datagram.Length < Size)
        {
            rejection = ProbeRejection.Truncated;
            return false;
        }

        if (datagram.Length > Size)
        {
            rejection = ProbeRejection.Oversized;
            return false;
        }

        if (!datagram[..4].SequenceEqual(Magic))
        {
            rejection = ProbeRejection.BadMagic;
            return false;
        }

        if (datagram[4] != Version)
        {
            rejection = ProbeRejection.BadVersion;
            return false;
        }

        var phase = datagram[5];
        if (phase is not ((byte)ProbePhase.Start or (byte)ProbePhase.End))
        {
            rejection = ProbeRejection.BadPhase;
            return false;
        }

        if (datagram[7] != 0)
        {
            rejection = ProbeRejection.BadReserved;
            return false;
        }

        header = new ProbeHeader(
            (ProbePhase)phase,
            datagram[6],
            new Guid(datagram.Slice(8, 16), bigEndian: true),
            BinaryPrimitives.ReadUInt32BigEndian(datagram.Slice(24, 4)),
            BinaryPrimitives.ReadUInt32BigEndian(datagram.Slice(28, 4)));
        rejection = default;
        return true;
    }

    public static bool VerifyTag(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> key)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(key, datagram[..TagOffset], mac);
        return CryptographicOperations.FixedTimeEquals(mac[..TagSize], datagram.Slice(TagOffset, TagSize));
    }

    /// <summary>The probe as a bash printf format string of \xHH escapes (no fork, no NUL problems).</summary>
    public static string ToPrintfEscapes(ReadOnlySpan<byte> probe)
    {
        var chars = new char[probe.Length * 4];
        for (var i = 0; i < probe.Length; i++)
        {
            chars[i * 4] = '\\';
            chars[(i * 4) + 1] = 'x';
            chars[(i * 4) + 2] = "0123456789abcdef"[probe[i] >> 4];
            chars[(i * 4) + 3] = "0123456789abcdef"[probe[i] & 15];
        }

        return new string(chars);
    }
}
