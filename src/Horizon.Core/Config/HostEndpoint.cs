using System.Globalization;

namespace Horizon.Config;

/// <summary>
/// How a test host is recognised across testbed files, whatever name each file gives it: where its controller connects.
/// An agent serves the hosts of its testbed files; a campaign's experiment goes to an agent that serves the endpoints
/// of all its guests' hosts (two files naming the same SSH address, port and user mean the same test computer).
/// </summary>
public static class HostEndpoint
{
    /// <summary><c>ssh://user@address:port</c>, or <c>local://NAME</c> for a host reached without SSH (the agent's own machine).</summary>
    public static string Of(TestHost host) => Of(host.Name, host.Transport);

    public static string Of(string name, TransportSpec t) => t.Kind switch
    {
        TransportKind.Ssh => string.Create(CultureInfo.InvariantCulture,
            $"ssh://{(t.User ?? "root").ToLowerInvariant()}@{(t.Address ?? "").Trim().TrimEnd('.').ToLowerInvariant()}:{t.Port}"),
        _ => $"local://{name.ToLowerInvariant()}",
    };
}
