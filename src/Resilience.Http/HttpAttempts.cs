namespace Resilience.Http;

/// <summary>
/// The attempts of one request through a pipeline. The first attempt sends the caller's request; a repeated attempt
/// sends a fresh copy of the request as it stood before the first, so what inner handlers changed while sending an
/// attempt never reaches the next. Responses that never reach the caller (discarded by a retry, replaced by a fallback)
/// are the engine's to dispose, once: none is disposed here.
/// </summary>
/// <remarks>
/// One instance per thread is kept for the next request: a request's attempts end before its outcome is handed back (the
/// engine awaits every attempt, even one a timeout cancelled), so nothing refers to the instance once it is finished.
/// </remarks>
internal sealed class HttpAttempts
{
    [ThreadStatic]
    private static HttpAttempts? t_spare;

    private ResilienceHandler _handler = null!;
    private HttpRequestMessage _request = null!;
    private RequestSnapshot _snapshot;
    private bool _started;

    private HttpAttempts()
    {
    }

    /// <summary>Takes the request as it stands, before its first attempt.</summary>
    public static HttpAttempts Start(ResilienceHandler handler, HttpRequestMessage request)
    {
        var attempts = t_spare ?? new HttpAttempts();
        t_spare = null;
        attempts._handler = handler;
        attempts._request = request;
        attempts._snapshot = new RequestSnapshot(request);
        attempts._started = false;
        return attempts;
    }

    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        var attempt = NextRequest();
        try
        {
            return await _handler.SendToInnerAsync(attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }
    }

    public HttpResponseMessage Send(CancellationToken cancellationToken)
    {
        var attempt = NextRequest();
        try
        {
            return _handler.SendToInner(attempt, cancellationToken);
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }
    }

    /// <summary>Returns the result to the caller, or throws the failure; the instance serves another request afterwards.</summary>
    public HttpResponseMessage Finish(in Outcome<HttpResponseMessage> outcome)
    {
        _snapshot.Release();
        _handler = null!;
        _request = null!;
        t_spare = this;
        return outcome.GetResultOrThrow();
    }

    private HttpRequestMessage NextRequest()
    {
        if (!_started)
        {
            _started = true;
            return _request;
        }

        // The copy shares the content and is not disposed: disposing it would dispose the caller's content.
        return _snapshot.CreateRequest();
    }

    // The transport wraps what the content threw while it was written: StreamContent throws InvalidOperationException
    // when its stream was consumed and cannot seek back. Only a repeated attempt can meet content already read.
    private bool IsContentNotRepeatable(HttpRequestMessage attempt, HttpRequestException exception) =>
        !ReferenceEquals(attempt, _request) && attempt.Content is not null && exception.InnerException is InvalidOperationException;
}
