namespace Resilience.Http;

/// <summary>
/// The attempts of one request through a pipeline. The first attempt sends the caller's request; a repeated attempt
/// sends a fresh copy of the request as it stood before the first, so what inner handlers changed while sending an
/// attempt never reaches the next. A response that a later attempt or a fallback replaced never reaches the caller,
/// so it is disposed here (an undisposed response holds its connection).
/// </summary>
internal sealed class HttpAttempts(ResilienceHandler handler, HttpRequestMessage request)
{
    private RequestSnapshot _snapshot = new(request);
    private bool _started;
    private HttpResponseMessage? _last;

    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        ReleaseLast();
        var attempt = NextRequest();
        HttpResponseMessage response;
        try
        {
            response = await handler.SendToInnerAsync(attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }

        _last = response;
        return response;
    }

    public HttpResponseMessage Send(CancellationToken cancellationToken)
    {
        ReleaseLast();
        var attempt = NextRequest();
        HttpResponseMessage response;
        try
        {
            response = handler.SendToInner(attempt, cancellationToken);
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }

        _last = response;
        return response;
    }

    /// <summary>Returns the result to the caller (or throws the failure), disposing the last response if it is not that result.</summary>
    public HttpResponseMessage Finish(in Outcome<HttpResponseMessage> outcome)
    {
        if (_last is { } last && !ReferenceEquals(last, outcome.Result))
        {
            last.Dispose();
        }

        _last = null;
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

    private void ReleaseLast()
    {
        _last?.Dispose();
        _last = null;
    }
}
