namespace Resilience.Http;

/// <summary>
/// The attempts of one request through a pipeline. A response that a later attempt or a fallback replaced never reaches
/// the caller, so it is disposed here (an undisposed response holds its connection).
/// </summary>
internal sealed class HttpAttempts(ResilienceHandler handler, HttpRequestMessage request)
{
    private HttpResponseMessage? _last;

    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        ReleaseLast();
        var response = await handler.SendToInnerAsync(request, cancellationToken).ConfigureAwait(false);
        _last = response;
        return response;
    }

    public HttpResponseMessage Send(CancellationToken cancellationToken)
    {
        ReleaseLast();
        var response = handler.SendToInner(request, cancellationToken);
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
        return outcome.GetResultOrThrow();
    }

    private void ReleaseLast()
    {
        _last?.Dispose();
        _last = null;
    }
}
