using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Horizon.Timing;

/// <summary>Where a datagram came from (IPv4, network byte order as the kernel gives it): no allocation per datagram.</summary>
public readonly record struct DatagramSource(uint AddressBigEndian, ushort PortBigEndian)
{
    public static DatagramSource From(IPEndPoint e)
    {
        Span<byte> bytes = stackalloc byte[4];
        e.Address.MapToIPv4().TryWriteBytes(bytes, out _);
        return new(MemoryMarshal.Read<uint>(bytes), BinaryPrimitives.ReverseEndianness((ushort)e.Port));
    }

    public IPEndPoint ToEndPoint() => new(new IPAddress(AddressBigEndian), BinaryPrimitives.ReverseEndianness(PortBigEndian));

    public override string ToString() => ToEndPoint().ToString();
}

/// <summary>Receives datagrams, each with its arrival on the controller's monotonic timeline (nanoseconds).</summary>
public interface IDatagramSink
{
    void OnDatagram(ReadOnlySpan<byte> datagram, long arrivalMonotonicNs, DatagramSource source);

    /// <summary>Called at least every ~50 ms, between batches, on the receive thread.</summary>
    void OnTick(long nowMonotonicNs);
}

public enum TimestampSource
{
    /// <summary>The kernel's receive stamp (SO_TIMESTAMPNS through recvmmsg).</summary>
    Kernel,

    /// <summary>A monotonic clock read after the receive call returned (fallback; late under CPU load).</summary>
    Managed,
}

/// <summary>A UDP receive loop on its own thread. Uses kernel receive timestamps on Linux, a managed fallback elsewhere.</summary>
public sealed class ProbeListener : IDisposable
{
    private const int Batch = 64;
    private const int BufferSize = 2048;
    private const int ControlSize = 64;
    private readonly IDatagramSink sink;
    private readonly ArrivalClock clock;
    private readonly Thread thread;
    private readonly int fd = -1;
    private readonly Socket? managed;
    private volatile bool stopping;

    public ProbeListener(IPEndPoint bindTo, IDatagramSink sink, IClockSource? clockSource = null, bool forceManaged = false, int receiveBufferBytes = 8 << 20, string? networkNamespace = null)
    {
        this.sink = sink;
        clock = new ArrivalClock(clockSource ?? SystemClockSource.Instance);
        if (networkNamespace is not null)
        {
            // The socket lives in the lab's namespace (where guests can reach it); the process stays where it is.
            if (!OperatingSystem.IsLinux() || forceManaged)
            {
                throw new PlatformNotSupportedException("a probe listener inside a network namespace needs Linux and kernel timestamps");
            }

            (fd, var nsPort, var nsError) = InNamespace(networkNamespace, () => TryOpenNative(bindTo, receiveBufferBytes, out var f, out var p, out var e) ? (f, p, e) : (-1, 0, e));
            if (fd < 0)
            {
                throw new InvalidOperationException($"cannot open the probe socket in network namespace {networkNamespace}: {nsError}");
            }

            Source = TimestampSource.Kernel;
            LocalEndPoint = new IPEndPoint(bindTo.Address, nsPort);
            NetworkNamespace = networkNamespace;
        }
        else if (!forceManaged && OperatingSystem.IsLinux() && bindTo.AddressFamily == AddressFamily.InterNetwork && TryOpenNative(bindTo, receiveBufferBytes, out fd, out var port, out var error))
        {
            Source = TimestampSource.Kernel;
            LocalEndPoint = new IPEndPoint(bindTo.Address, port);
        }
        else
        {
            managed = new Socket(bindTo.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            managed.ReceiveBufferSize = receiveBufferBytes;
            managed.Bind(bindTo);
            managed.ReceiveTimeout = 100;
            LocalEndPoint = (IPEndPoint)managed.LocalEndPoint!;
            Source = TimestampSource.Managed;
            FallbackReason = forceManaged ? "managed timestamps were asked for" : "kernel timestamps unavailable on this system";
        }

        thread = new Thread(Source == TimestampSource.Kernel ? ReceiveNative : ReceiveManaged)
        {
            IsBackground = true,
            Name = "horizon-probe-listener",
            Priority = ThreadPriority.Highest,
        };
        thread.Start();
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The network namespace the socket was opened in, or null for the process's own.</summary>
    public string? NetworkNamespace { get; }

    private static T InNamespace<T>(string name, Func<T> action)
    {
        T result = default!;
        Exception? failure = null;
        var worker = new Thread(() =>
        {
            try
            {
                using var handle = File.OpenHandle($"/run/netns/{name}", FileMode.Open, FileAccess.Read);
                if (Native.SetNs((int)handle.DangerousGetHandle(), Native.CloneNewnet) != 0)
                {
                    throw new InvalidOperationException($"setns({name}) failed: errno {Marshal.GetLastPInvokeError()}");
                }

                result = action();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                failure = e;
            }
        });
        // The thread ends after opening the socket, so its namespace switch affects nothing else.
        worker.Start();
        worker.Join();
        return failure is null ? result : throw new InvalidOperationException(failure.Message, failure);
    }

    public TimestampSource Source { get; }

    /// <summary>Sends a datagram from the listening socket (so a guest's connected UDP socket accepts it as from its peer).</summary>
    public unsafe bool Send(DatagramSource to, ReadOnlySpan<byte> payload)
    {
        if (managed is not null)
        {
            try
            {
                return managed.SendTo(payload, SocketFlags.None, to.ToEndPoint()) == payload.Length;
            }
            catch (SocketException)
            {
                return false;
            }
        }

        var address = new Native.SockAddrIn { Family = Native.AfInet, PortBigEndian = to.PortBigEndian, AddressBigEndian = to.AddressBigEndian };
        fixed (byte* p = payload)
        {
            return Native.SendTo(fd, p, (nuint)payload.Length, 0, &address, (uint)sizeof(Native.SockAddrIn)) == payload.Length;
        }
    }

    public string? FallbackReason { get; }

    public long Datagrams => Interlocked.Read(ref datagrams);

    private long datagrams;

    public void Dispose()
    {
        stopping = true;
        thread.Join(TimeSpan.FromSeconds(5));
        if (fd >= 0)
        {
            Native.Close(fd);
        }

        managed?.Dispose();
    }

    private static unsafe bool TryOpenNative(IPEndPoint bindTo, int receiveBuffer, out int fd, out int port, out string? error)
    {
        port = 0;
        error = null;
        fd = Native.Socket(Native.AfInet, Native.SockDgram | Native.SockCloexec, 0);
        if (fd < 0)
        {
            error = $"socket: errno {Marshal.GetLastPInvokeError()}";
            return false;
        }

        var one = 1;
        var buffer = receiveBuffer;
        var timeout = new Native.TimeVal { Seconds = 0, Microseconds = 50_000 };
        Span<byte> addressBytes = stackalloc byte[4];
        bindTo.Address.TryWriteBytes(addressBytes, out _);
        var address = new Native.SockAddrIn
        {
            Family = Native.AfInet,
            PortBigEndian = BinaryPrimitives.ReverseEndianness((ushort)bindTo.Port),
            AddressBigEndian = MemoryMarshal.Read<uint>(addressBytes),
        };
        uint length = (uint)sizeof(Native.SockAddrIn);
        if (Native.SetSockOpt(fd, Native.SolSocket, Native.SoTimestampns, &one, sizeof(int)) != 0
            || Native.SetSockOpt(fd, Native.SolSocket, Native.SoRcvtimeo, &timeout, (uint)sizeof(Native.TimeVal)) != 0
            || Native.Bind(fd, &address, length) != 0
            || Native.GetSockName(fd, &address, &length) != 0)
        {
            error = $"socket setup: errno {Marshal.GetLastPInvokeError()}";
            Native.Close(fd);
            fd = -1;
            return false;
        }

        // A bigger queue than the global default without changing the global sysctl (needs CAP_NET_ADMIN; best effort).
        if (Native.SetSockOpt(fd, Native.SolSocket, Native.SoRcvbufforce, &buffer, sizeof(int)) != 0)
        {
            Native.SetSockOpt(fd, Native.SolSocket, Native.SoRcvbuf, &buffer, sizeof(int));
        }

        port = BinaryPrimitives.ReverseEndianness(address.PortBigEndian);
        return true;
    }

    private unsafe void ReceiveNative()
    {
        var data = (byte*)NativeMemory.AllocZeroed((nuint)(Batch * BufferSize));
        var control = (byte*)NativeMemory.AllocZeroed((nuint)(Batch * ControlSize));
        var iov = (Native.IoVec*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Native.IoVec)));
        var messages = (Native.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Native.MMsgHdr)));
        var names = (Native.SockAddrIn*)NativeMemory.AllocZeroed((nuint)(Batch * sizeof(Native.SockAddrIn)));
        try
        {
            for (var i = 0; i < Batch; i++)
            {
                iov[i].Base = data + (i * BufferSize);
                iov[i].Length = BufferSize;
                messages[i].Header.Iov = &iov[i];
                messages[i].Header.IovLength = 1;
                messages[i].Header.Control = control + (i * ControlSize);
            }

            var lastTick = clock.Source.MonotonicNs();
            while (!stopping)
            {
                for (var i = 0; i < Batch; i++)
                {
                    messages[i].Header.ControlLength = ControlSize;
                    messages[i].Header.Flags = 0;
                    messages[i].Header.Name = &names[i];
                    messages[i].Header.NameLength = (uint)sizeof(Native.SockAddrIn);
                }

                var n = Native.RecvMMsg(fd, messages, Batch, Native.MsgWaitforone, null);
                if (n > 0)
                {
                    var offset = clock.CurrentOffsetNs();
                    for (var i = 0; i < n; i++)
                    {
                        var stamp = KernelStamp(&messages[i].Header);
                        var arrival = stamp is { } realtime ? ArrivalClock.ToMonotonic(realtime, offset) : clock.Source.MonotonicNs();
                        sink.OnDatagram(new ReadOnlySpan<byte>(iov[i].Base, (int)Math.Min(messages[i].Length, BufferSize)), arrival,
                            new DatagramSource(names[i].AddressBigEndian, names[i].PortBigEndian));
                    }

                    Interlocked.Add(ref datagrams, n);
                }

                var now = clock.Source.MonotonicNs();
                if (now - lastTick >= 50_000_000)
                {
                    lastTick = now;
                    sink.OnTick(now);
                }
            }
        }
        finally
        {
            NativeMemory.Free(data);
            NativeMemory.Free(control);
            NativeMemory.Free(iov);
            NativeMemory.Free(messages);
            NativeMemory.Free(names);
        }
    }

    private static unsafe long? KernelStamp(Native.MsgHdr* header)
    {
        var p = (byte*)header->Control;
        var end = p + header->ControlLength;
        while (p + sizeof(Native.CmsgHdr) <= end)
        {
            var cmsg = (Native.CmsgHdr*)p;
            if (cmsg->Length < (nuint)sizeof(Native.CmsgHdr))
            {
                break;
            }

            if (cmsg->Level == Native.SolSocket && cmsg->Type == Native.SoTimestampns)
            {
                var ts = (Timespec*)(p + sizeof(Native.CmsgHdr));
                return (ts->Seconds * 1_000_000_000L) + ts->Nanoseconds;
            }

            p += (cmsg->Length + 7) & ~(nuint)7;
        }

        return null;
    }

    private void ReceiveManaged()
    {
        var buffer = new byte[BufferSize];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        var lastTick = clock.Source.MonotonicNs();
        while (!stopping)
        {
            try
            {
                var n = managed!.ReceiveFrom(buffer, ref any);
                var arrival = clock.Source.MonotonicNs();
                Interlocked.Increment(ref datagrams);
                sink.OnDatagram(buffer.AsSpan(0, n), arrival, any is IPEndPoint from && from.AddressFamily == AddressFamily.InterNetwork ? DatagramSource.From(from) : default);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.ConnectionReset)
            {
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var now = clock.Source.MonotonicNs();
            if (now - lastTick >= 50_000_000)
            {
                lastTick = now;
                sink.OnTick(now);
            }
        }
    }
}
