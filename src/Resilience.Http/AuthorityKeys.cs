using System.Collections.Concurrent;

namespace Resilience.Http;

/// <summary>
/// The instance key of a request's authority: <c>scheme://host:port</c> (the port always written, the host in its ASCII
/// form). Built once per authority and kept, so that a request to a known authority allocates nothing for it: the
/// scheme, the ASCII host and the port a <see cref="Uri"/> gives without allocating, and the string is looked up by them.
/// </summary>
internal sealed class AuthorityKeys
{
    private readonly ConcurrentDictionary<(string Scheme, string Host, int Port), string> _keys = new();
    private readonly int _maxKept;

    /// <param name="maxKept">How many keys are kept at most: a new authority that finds as many starts the cache over.</param>
    public AuthorityKeys(int maxKept)
    {
        _maxKept = maxKept;
    }

    /// <summary>Gets the key of a request's authority, or <see langword="null"/> for a request without an absolute URI.</summary>
    public string? KeyOf(HttpRequestMessage request)
    {
        if (request.RequestUri is not { IsAbsoluteUri: true } uri)
        {
            return null;
        }

        var authority = (uri.Scheme, uri.IdnHost, uri.Port);
        if (_keys.TryGetValue(authority, out var key))
        {
            return key;
        }

        // The ASCII host of an IPv6 address comes without its brackets, which an authority writes.
        key = uri.HostNameType == UriHostNameType.IPv6
            ? $"{authority.Scheme}://[{authority.IdnHost}]:{authority.Port}"
            : $"{authority.Scheme}://{authority.IdnHost}:{authority.Port}";
        if (_keys.Count >= _maxKept)
        {
            // Full: start over rather than stop adding, so that a client that has moved on to other hosts has their keys
            // kept again (the hosts of a burst past the cap would otherwise hold it for good). Only a new authority gets
            // here: requests to known ones never clear, lock or allocate.
            _keys.Clear();
        }

        _keys.TryAdd(authority, key);
        return key;
    }
}
