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

    // The cancellation the last attempt ended with, if any: a timeout strategy hands it back wrapped, to carry its
    // caller's token, and the wrapping is undone before it reaches the caller.
    private OperationCanceledException? _cancellation;

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
        attempts._cancellation = null;
        return attempts;
    }

    public async ValueTask<HttpResponseMessage> SendAsync(CancellationToken cancellationToken)
    {
        var attempt = NextRequest();
        try
        {
            return await _handler.SendToInnerAsync(attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException exception) when (Noted(exception))
        {
            throw;
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
        catch (OperationCanceledException exception) when (Noted(exception))
        {
            throw;
        }
        catch (HttpRequestException exception) when (IsContentNotRepeatable(attempt, exception))
        {
            throw new ContentNotRepeatableException(exception);
        }
    }

    /// <summary>Returns the result to the caller, or throws the failure; the instance serves another request afterwards.</summary>
    /// <param name="outcome">The pipeline's outcome.</param>
    /// <param name="cancellationToken">The token the handler was given.</param>
    /// <param name="asynchronous">Whether the request was sent with <c>SendAsync</c>.</param>
    public HttpResponseMessage Finish(in Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken, bool asynchronous)
    {
        var cancellation = _cancellation;
        var sent = _started;
        _snapshot.Release();
        _handler = null!;
        _request = null!;
        _cancellation = null;
        t_spare = this;
        if (cancellation is not null && !outcome.IsSuccess && !outcome.IsRejected && Unwrapped(outcome.Exception!, cancellation, cancellationToken) is { } unwrapped)
        {
            throw unwrapped;
        }

        if (!sent && asynchronous && outcome.Exception is OperationCanceledException { CancellationToken: var token } && token == cancellationToken && token.IsCancellationRequested)
        {
            // The caller cancelled before any attempt was sent (before the call, or while it waited for a permit): the
            // cancelled task a transport answers a cancelled token with, so HttpClient builds the exception it builds
            // without the handler.
            throw new TaskCanceledException(Task.FromCanceled(cancellationToken));
        }

        return outcome.GetResultOrThrow();
    }

    /// <summary>
    /// The caller's cancellation as the inner handler reported it, when a timeout strategy wrapped the attempt's
    /// cancellation (raised from the timeout's token) in one raised from the handler's token: the wrapper is undone, so the
    /// exception chain is the one the inner handler's cancellation gives without the pipeline (HttpClient, which takes the
    /// message and inner exception of what it receives, builds the same exception either way).
    /// </summary>
    private static OperationCanceledException? Unwrapped(Exception failure, OperationCanceledException attempt, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(failure, attempt) || failure is not OperationCanceledException { CancellationToken: var token } || token != cancellationToken)
        {
            return null;
        }

        // Nested timeouts wrap once each: every wrapper is the pipeline's, down to the attempt's own exception.
        for (var current = failure.InnerException; current is OperationCanceledException; current = current.InnerException)
        {
            if (ReferenceEquals(current, attempt))
            {
                return attempt is TaskCanceledException
                    ? new TaskCanceledException(attempt.Message, attempt.InnerException, cancellationToken)
                    : new OperationCanceledException(attempt.Message, attempt.InnerException, cancellationToken);
            }
        }

        return null;
    }

    private bool Noted(OperationCanceledException exception)
    {
        _cancellation = exception;
        return false;
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
