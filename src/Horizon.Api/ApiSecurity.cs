using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Horizon.Api;

/// <summary>
/// Who may talk to the controller. A submitted campaign runs commands on every guest of its testbed, so the API is
/// bound to loopback by default and refuses to listen anywhere else without a bearer token.
/// </summary>
public sealed record ApiSecurity(IPAddress Bind, int Port, string? Token)
{
    public const int MinimumTokenLength = 16;

    /// <summary>
    /// Host names (besides loopback names and addresses) a request may address the API by: the machine's own names when
    /// the API is reached from elsewhere. Without a token, a request for any other name is refused (DNS rebinding).
    /// </summary>
    public ImmutableArray<string> AllowedHosts { get; init; } = [];

    public static ApiSecurity Create(string bind, int port, string? token, IEnumerable<string>? allowedHosts = null)
    {
        if (!IPAddress.TryParse(bind, out var address))
        {
            throw new ArgumentException($"--bind: '{bind}' is not an IP address");
        }

        if (port is < 0 or > 65535)
        {
            throw new ArgumentException($"--port: {port} is not a TCP port");
        }

        token = string.IsNullOrWhiteSpace(token) ? null : token.Trim();
        if (!IPAddress.IsLoopback(address) && token is null)
        {
            throw new ArgumentException(
                $"--bind {bind} is reachable from other machines and anyone who reaches the API can run commands on the testbed's guests: " +
                "give a token (--token or HORIZON_API_TOKEN), or bind to 127.0.0.1");
        }

        if (token is { Length: < MinimumTokenLength })
        {
            throw new ArgumentException($"the API token must be at least {MinimumTokenLength} characters");
        }

        return new ApiSecurity(address, port, token) { AllowedHosts = HostNames(allowedHosts) };
    }

    /// <summary>Allowed host names from a list whose items may themselves be comma-separated (options, settings).</summary>
    public static ImmutableArray<string> HostNames(IEnumerable<string>? names) =>
        [.. (names ?? []).SelectMany(n => n.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Select(n => n.ToLowerInvariant()).Distinct()];

    /// <summary>
    /// Why a request must be refused before anything else looks at it, or null. A web page the user visits can make the
    /// browser send requests to 127.0.0.1 (directly, or through a name it rebinds to 127.0.0.1), and a submitted
    /// campaign runs commands as root on every guest. So: a cross-site request (its <c>Origin</c> is not the API's own,
    /// or the browser marks it cross-site) is refused always; without a token, a <c>Host</c> that is neither a loopback
    /// name nor a configured name is refused too. With a token the browser cannot authenticate on the page's behalf.
    /// </summary>
    public string? Refusal(string? host, string? origin, string? fetchSite)
    {
        if (string.IsNullOrWhiteSpace(host) || !TryHostName(host, out var name))
        {
            return "the request has no usable Host header";
        }

        if (Token is null && !IsAllowedName(name))
        {
            return $"Host '{host}' is not a name of this controller (loopback names{(AllowedHosts.IsEmpty ? "" : ", " + string.Join(", ", AllowedHosts))}); a page in a browser may be trying to reach it";
        }

        if (string.Equals(fetchSite, "cross-site", StringComparison.OrdinalIgnoreCase))
        {
            return "cross-site requests are refused";
        }

        if (!string.IsNullOrEmpty(origin))
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var o) || !string.Equals(o.Authority, new Uri($"http://{host}").Authority, StringComparison.OrdinalIgnoreCase))
            {
                return $"cross-origin requests are refused (Origin '{origin}' is not this controller)";
            }
        }

        return null;
    }

    private bool IsAllowedName(string name) =>
        name == "localhost" || name.EndsWith(".localhost", StringComparison.Ordinal)
        || (IPAddress.TryParse(name, out var a) && (IPAddress.IsLoopback(a) || (!a.Equals(IPAddress.Any) && !a.Equals(IPAddress.IPv6Any) && a.Equals(Bind))))
        || AllowedHosts.Contains(name);

    /// <summary>The name part of a Host header value (`name`, `name:port`, `[v6]:port`), lower case.</summary>
    private static bool TryHostName(string host, out string name)
    {
        name = "";
        if (!Uri.TryCreate($"http://{host.Trim()}/", UriKind.Absolute, out var uri) || uri.UserInfo.Length > 0 || uri.AbsolutePath != "/")
        {
            return false;
        }

        name = uri.Host.Trim('[', ']').TrimEnd('.').ToLowerInvariant();
        return name.Length > 0;
    }

    /// <summary>True when the request carries the token (or none is configured). Compared in constant time.</summary>
    public bool Allows(string? authorizationHeader)
    {
        if (Token is null)
        {
            return true;
        }

        const string scheme = "Bearer ";
        if (authorizationHeader is null || !authorizationHeader.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(authorizationHeader[scheme.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(Token);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(given), SHA256.HashData(expected));
    }
}
