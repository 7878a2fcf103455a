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

    public static ApiSecurity Create(string bind, int port, string? token)
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

        return new ApiSecurity(address, port, token);
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
