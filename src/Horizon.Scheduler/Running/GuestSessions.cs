using Horizon.Config;

namespace Horizon.Scheduler.Running;

/// <summary>
/// One long-lived session per guest and per test host for the whole campaign (SSH: one connection each, reconnected on
/// a drop), shared by every experiment; all closed when the campaign ends.
/// </summary>
internal sealed class GuestSessions : IAsyncDisposable
{
    private readonly Dictionary<string, IGuestTransport> guests = [];
    private readonly Dictionary<string, IGuestTransport> hosts = [];

    public IGuestTransport Guest(GuestSpec guest) => Get(guests, guest.Name, () => Transports.For(guest));

    public IGuestTransport Host(TestHost host) => Get(hosts, host.Name, () => Transports.For(host.Name, host.Transport));

    public async ValueTask DisposeAsync()
    {
        List<IGuestTransport> all;
        lock (guests)
        {
            lock (hosts)
            {
                all = [.. guests.Values, .. hosts.Values];
                guests.Clear();
                hosts.Clear();
            }
        }

        foreach (var session in all)
        {
            await session.DisposeAsync();
        }
    }

    private static IGuestTransport Get(Dictionary<string, IGuestTransport> sessions, string name, Func<IGuestTransport> open)
    {
        lock (sessions)
        {
            if (!sessions.TryGetValue(name, out var session))
            {
                sessions[name] = session = open();
            }

            return session;
        }
    }
}
