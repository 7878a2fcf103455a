using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Horizon.Probes;

public enum ProbePhase : byte
{
    Start = 1,
    End = 2,

    /// <summary>The guest is prepared and waits at the start barrier; the datagram's source is where to send the release.</summary>
    Ready = 3,
}

/// <summary>Why a datagram was not accepted as a probe. Counted, never thrown.</summary>
public enum ProbeRejection
{
    Truncated,
    Oversized,
    BadMagic,
    BadVersion,
    BadPhase,
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
///  6  copy index        1 (0..8)
///  7  salt              1
///  8  experiment id     16 (RFC 4122 byte order)  ┐ each byte XORed
/// 24  guest index       4 (big endian)            │ with the salt
/// 28  round index       4 (big endian)            ┘
/// 32  tag               16 = first 128 bits of HMAC-SHA256(key, bytes 0..31 as sent)
/// </code>
/// The controller picks the salt so that no byte of the datagram is 0x0a: the guest sends with bash's printf builtin,
/// whose line-buffered stdout would flush at a newline byte and split the datagram in two.
/// </summary>
public static class ProbeFormat
{
    public const int Size = 48;
    public const int TagOffset = 32;
    public const int TagSize = 16;
    public const byte Version = 1;
    public const int KeySize = 32;
    public const int MaxCopies = 9;
    private const byte Newline = 0x0a;
    public static ReadOnlySpan<byte> Magic => "HZP1"u8;

    public static byte[] NewKey() => RandomNumberGenerator.GetBytes(KeySize);

    public static void Encode(ProbeHeader header, ReadOnlySpan<byte> key, Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"a probe needs {Size} bytes", nameof(destination));
        }

        if (header.Copy >= MaxCopies)
        {
            throw new ArgumentOutOfRangeException(nameof(header), $"copy index must be below {MaxCopies}");
        }

        Span<byte> plain = stackalloc byte[24];
        header.Experiment.TryWriteBytes(plain[..16], bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(plain.Slice(16, 4), header.Guest);
        BinaryPrimitives.WriteUInt32BigEndian(plain.Slice(20, 4), header.Round);
        Span<byte> mac = stackalloc byte[32];
        for (var salt = 0; salt < 256; salt++)
        {
            if (salt == Newline || plain.Contains((byte)(salt ^ Newline)))
            {
                continue;
            }

            Magic.CopyTo(destination);
            destination[4] = Version;
            destination[5] = (byte)header.Phase;
            destination[6] = header.Copy;
            destination[7] = (byte)salt;
            for (var i = 0; i < 24; i++)
            {
                destination[8 + i] = (byte)(plain[i] ^ salt);
            }

            HMACSHA256.HashData(key, destination[..TagOffset], mac);
            if (!mac[..TagSize].Contains(Newline))
            {
                mac[..TagSize].CopyTo(destination.Slice(TagOffset, TagSize));
                return;
            }
        }

        throw new InvalidOperationException("no salt gives a probe free of newline bytes");
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
        if (phase is not ((byte)ProbePhase.Start or (byte)ProbePhase.End or (byte)ProbePhase.Ready))
        {
            rejection = ProbeRejection.BadPhase;
            return false;
        }

        Span<byte> plain = stackalloc byte[24];
        var saltByte = datagram[7];
        for (var i = 0; i < 24; i++)
        {
            plain[i] = (byte)(datagram[8 + i] ^ saltByte);
        }

        header = new ProbeHeader(
            (ProbePhase)phase,
            datagram[6],
            new Guid(plain[..16], bigEndian: true),
            BinaryPrimitives.ReadUInt32BigEndian(plain.Slice(16, 4)),
            BinaryPrimitives.ReadUInt32BigEndian(plain.Slice(20, 4)));
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
