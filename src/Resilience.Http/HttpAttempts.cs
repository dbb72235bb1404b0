namespace Resilience.Http;

/// <summary>
/// The attempts of one request through a pipeline. The first attempt sends the caller's request; a repeated attempt
/// sends a fresh copy of the request as it stood before the first, so what inner handlers changed while sending an
/// attempt never reaches the next. Responses that never reach the caller (discarded by a retry, replaced by a fallback)
/// are the engine's to dispose, once: none is disposed here.
/// </summary>
internal sealed class HttpAttempts(ResilienceHandler handler, HttpRequestMessage request)
{
    private RequestSnapshot _snapshot = new(request);
    private bool _started;

    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        var attempt = NextRequest();
        try
        {
            return await handler.SendToInnerAsync(attempt, cancellationToken).ConfigureAwait(false);
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
            return handler.SendToInner(attempt, cancellationToken);
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }
    }

    /// <summary>Returns the result to the caller, or throws the failure.</summary>
    public HttpResponseMessage Finish(in Outcome<HttpResponseMessage> outcome)
    {
        _snapshot.Release();
        return outcome.GetResultOrThrow();
    }

    private HttpRequestMessage NextRequest()
    {
        if (!_started)
        {
            _started = true;
            return request;
        }

        // The copy shares the content and is not disposed: disposing it would dispose the caller's content.
        return _snapshot.CreateRequest();
    }

    // The transport wraps what the content threw while it was written: StreamContent throws InvalidOperationException
    // when its stream was consumed and cannot seek back. Only a repeated attempt can meet content already read.
    private bool IsContentNotRepeatable(HttpRequestMessage attempt, HttpRequestException exception) =>
        !ReferenceEquals(attempt, request) && attempt.Content is not null && exception.InnerException is InvalidOperationException;
}
