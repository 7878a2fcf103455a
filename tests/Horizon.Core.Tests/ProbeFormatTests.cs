using CsCheck;
using Horizon.Probes;
using Horizon.Scripts;

namespace Horizon.Core.Tests;

public sealed class ProbeFormatTests
{
    private static readonly byte[] Key = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

    private static readonly Gen<ProbeHeader> Headers =
        Gen.Select(Gen.Int[1, 2], Gen.Int[0, ProbeFormat.MaxCopies - 1], Gen.Guid, Gen.UInt, Gen.UInt)
            .Select((phase, copy, id, guest, round) => new ProbeHeader((ProbePhase)phase, (byte)copy, id, guest, round));

    [Fact]
    public void Encoded_probes_decode_to_the_same_header_and_verify() =>
        Headers.Sample(h =>
        {
            var bytes = ProbeFormat.Encode(h, Key);
            Assert.Equal(ProbeFormat.Size, bytes.Length);
            Assert.True(ProbeFormat.TryReadHeader(bytes, out var back, out _));
            Assert.Equal(h, back);
            Assert.True(ProbeFormat.VerifyTag(bytes, Key));
        });

    [Fact]
    public void Probes_never_contain_a_newline_byte_so_bash_printf_sends_them_whole() =>
        Headers.Sample(h => Assert.DoesNotContain((byte)0x0a, ProbeFormat.Encode(h, Key)), iter: 20_000);

    [Fact]
    public void Round_ten_and_guest_ten_still_avoid_newlines()
    {
        var bytes = ProbeFormat.Encode(new ProbeHeader(ProbePhase.End, 0, Guid.Empty, 10, 10), Key);
        Assert.DoesNotContain((byte)0x0a, bytes);
        Assert.True(ProbeFormat.TryReadHeader(bytes, out var h, out _));
        Assert.Equal(10u, h.Round);
    }

    [Fact]
    public void Any_flipped_bit_breaks_the_tag_or_the_structure() =>
        Gen.Select(Headers, Gen.Int[0, (ProbeFormat.Size * 8) - 1]).Sample((h, bit) =>
        {
            var bytes = ProbeFormat.Encode(h, Key);
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            var structural = ProbeFormat.TryReadHeader(bytes, out _, out _);
            Assert.False(structural && ProbeFormat.VerifyTag(bytes, Key));
        });

    [Fact]
    public void Another_key_does_not_verify()
    {
        var bytes = ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, Guid.NewGuid(), 0, 1), Key);
        Assert.False(ProbeFormat.VerifyTag(bytes, ProbeFormat.NewKey()));
    }

    [Theory]
    [InlineData(0, ProbeRejection.Truncated)]
    [InlineData(47, ProbeRejection.Truncated)]
    [InlineData(49, ProbeRejection.Oversized)]
    [InlineData(1500, ProbeRejection.Oversized)]
    public void Wrong_sizes_are_rejected(int size, ProbeRejection expected)
    {
        Assert.False(ProbeFormat.TryReadHeader(new byte[size], out _, out var why));
        Assert.Equal(expected, why);
    }

    [Fact]
    public void Bad_magic_version_and_phase_are_rejected()
    {
        var good = ProbeFormat.Encode(new ProbeHeader(ProbePhase.Start, 0, Guid.NewGuid(), 0, 0), Key);
        (int Offset, byte Value, ProbeRejection Why)[] cases = [(0, (byte)'X', ProbeRejection.BadMagic), (4, 2, ProbeRejection.BadVersion), (5, 4, ProbeRejection.BadPhase)];
        foreach (var (offset, value, why) in cases)
        {
            var bad = (byte[])good.Clone();
            bad[offset] = value;
            Assert.False(ProbeFormat.TryReadHeader(bad, out _, out var got));
            Assert.Equal(why, got);
        }
    }

    [Fact]
    public void Printf_escapes_spell_every_byte()
    {
        var text = ProbeFormat.ToPrintfEscapes([0x00, 0x25, 0xff]);
        Assert.Equal("\\x00\\x25\\xff", text);
    }

    [Fact]
    public void Payload_list_is_ordered_round_phase_copy()
    {
        var id = Guid.NewGuid();
        var payloads = RoundBlock.Payloads(id, 3, 5, 2, 3, Key);
        Assert.Equal((2 * 2 * 3) + 3, payloads.Count);
        var bytes = Convert.FromHexString(payloads[(1 * 2 * 3) + 3 + 2].Replace("\\x", ""));
        Assert.True(ProbeFormat.TryReadHeader(bytes, out var h, out _));
        Assert.Equal(new ProbeHeader(ProbePhase.End, 2, id, 3, 6), h);

        // Then the ready probes of the start barrier, for the block's first round.
        var ready = Convert.FromHexString(payloads[(2 * 2 * 3) + 1].Replace("\\x", ""));
        Assert.True(ProbeFormat.TryReadHeader(ready, out var r, out _));
        Assert.Equal(new ProbeHeader(ProbePhase.Ready, 1, id, 3, 5), r);
    }
}
