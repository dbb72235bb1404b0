using System.Buffers;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;

namespace Resilience.Http;

/// <summary>
/// A request as it stood before its first attempt: what a repeated attempt is copied from, since inner handlers may
/// have changed the original (added a header, set an option, followed a redirect) while sending it.
/// </summary>
/// <remarks>
/// Taking it allocates little once the pools are warm: the scalars are fields and the headers and options go into pooled
/// arrays (options a request does not have are not created: see ExistingOptions). Header values held as strings are taken as
/// they are; a typed value (an Accept added as a MediaTypeWithQualityHeaderValue) is turned into its string, as the
/// transport does when it writes it. Only a repeated attempt builds a message.
/// </remarks>
internal struct RequestSnapshot
{
    private static bool s_optionsFieldMissing;

    private HttpMethod _method;
    private Uri? _requestUri;
    private Version _version;
    private HttpVersionPolicy _versionPolicy;
    private HttpContent? _content;
    private KeyValuePair<string, HeaderStringValues>[]? _headers;
    private int _headerCount;
    private KeyValuePair<string, object?>[]? _options;
    private int _optionCount;

    public RequestSnapshot(HttpRequestMessage request)
    {
        _method = request.Method;
        _requestUri = request.RequestUri;
        _version = request.Version;
        _versionPolicy = request.VersionPolicy;
        _content = request.Content;

        var headers = request.Headers.NonValidated;
        if (headers.Count > 0)
        {
            _headers = ArrayPool<KeyValuePair<string, HeaderStringValues>>.Shared.Rent(headers.Count);
            foreach (var header in headers)
            {
                _headers[_headerCount++] = header;
            }
        }

        // CopyTo, not foreach: the options' enumerator is an interface's, boxed on each call.
        if (ExistingOptions(request) is ICollection<KeyValuePair<string, object?>> { Count: > 0 } options)
        {
            _optionCount = options.Count;
            _options = ArrayPool<KeyValuePair<string, object?>>.Shared.Rent(_optionCount);
            options.CopyTo(_options, 0);
        }
    }

    /// <summary>
    /// The request's options if it has any, without creating them: the public property creates an empty dictionary on
    /// first read (104 B, a third of what the handler costs a request), and most requests never have options. The field
    /// is read through <see cref="UnsafeAccessorAttribute"/> (no reflection, trimming- and AOT-safe); should a runtime
    /// no longer have it, the first read finds that out and the property serves from then on.
    /// </summary>
    private static HttpRequestOptions? ExistingOptions(HttpRequestMessage request)
    {
        if (!s_optionsFieldMissing)
        {
            try
            {
                return ReadOptionsField(request);
            }
            catch (MissingFieldException)
            {
                s_optionsFieldMissing = true;
            }
        }

        return request.Options;
    }

    // Not inlined, so that a field that is missing fails this call, inside the try above, whenever it is resolved.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static HttpRequestOptions? ReadOptionsField(HttpRequestMessage request) => OptionsField(request);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_options")]
    private static extern ref HttpRequestOptions? OptionsField(HttpRequestMessage request);

    /// <summary>
    /// Builds a fresh request for a repeated attempt: method, URI, version and its policy, headers and options as they
    /// were; the content object is shared, so buffered content is read again.
    /// </summary>
    public readonly HttpRequestMessage CreateRequest()
    {
        var copy = new HttpRequestMessage(_method, _requestUri) { Version = _version, VersionPolicy = _versionPolicy, Content = _content };
        for (var i = 0; i < _headerCount; i++)
        {
            copy.Headers.TryAddWithoutValidation(_headers![i].Key, _headers[i].Value);
        }

        if (_optionCount > 0)
        {
            IDictionary<string, object?> options = copy.Options;
            for (var i = 0; i < _optionCount; i++)
            {
                options[_options![i].Key] = _options[i].Value;
            }
        }

        return copy;
    }

    /// <summary>Returns the pooled arrays; the snapshot is empty afterwards.</summary>
    public void Release()
    {
        if (_headers is { } headers)
        {
            ArrayPool<KeyValuePair<string, HeaderStringValues>>.Shared.Return(headers, clearArray: true);
        }

        if (_options is { } options)
        {
            ArrayPool<KeyValuePair<string, object?>>.Shared.Return(options, clearArray: true);
        }

        this = default;
    }
}
