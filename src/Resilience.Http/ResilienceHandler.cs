namespace Resilience.Http;

/// <summary>
/// A <see cref="DelegatingHandler"/> that sends each request through a resilience pipeline of
/// <see cref="HttpResponseMessage"/>: the pipeline's strategies (retry, circuit breaker, limiters, timeout, fallback)
/// see every attempt, and judge responses with their predicates (see <see cref="HttpOutcomes.IsTransientFailure"/>).
/// </summary>
/// <remarks>
/// The handler only translates: the request's token in, the response or exception out. A rejection (an open circuit,
/// no permit) is thrown as the pipeline's <see cref="ResilienceRejectedException"/>, and a pipeline timeout as its
/// <see cref="TimeoutRejectedException"/> (a <see cref="ResilienceException"/>, not a rejection). The first attempt sends
/// the caller's request; each repeated attempt sends a fresh copy of it as it stood before the first (method, URI,
/// version, headers, options), so inner handlers' changes to one attempt never reach the next. The copies share the
/// content, which must be readable more than once (<see cref="StringContent"/>, <see cref="ByteArrayContent"/> and other
/// buffered contents are); a repeated attempt that cannot read it again throws <see cref="InvalidOperationException"/>
/// and is not retried. Responses of attempts that were retried or replaced by a fallback are disposed.
/// </remarks>
public sealed class ResilienceHandler : DelegatingHandler
{
    private readonly Func<HttpRequestMessage, ResiliencePipeline<HttpResponseMessage>> _pipelineOf;
    private readonly HttpMethod[] _unretriedMethods = [];

    /// <summary>Initializes a handler that sends every request through <paramref name="pipeline"/>.</summary>
    /// <param name="pipeline">The pipeline; it may be shared with other handlers.</param>
    public ResilienceHandler(ResiliencePipeline<HttpResponseMessage> pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        _pipelineOf = _ => pipeline;
    }

    /// <summary>
    /// Initializes a handler that picks a pipeline per request, for example one per host so that each host has its own
    /// circuit breaker.
    /// </summary>
    /// <param name="pipelineOf">Returns the pipeline for a request; called once per request, before the first attempt.</param>
    public ResilienceHandler(Func<HttpRequestMessage, ResiliencePipeline<HttpResponseMessage>> pipelineOf)
    {
        ArgumentNullException.ThrowIfNull(pipelineOf);
        _pipelineOf = pipelineOf;
    }

    /// <summary>
    /// Gets the methods whose requests are sent once, never repeated: they go through the pipeline without its retries
    /// (its breakers, limiters, timeouts and fallbacks act on them as on any request). None by default: every request may
    /// be retried. Compared as <see cref="HttpMethod"/>s are, by name, ignoring case.
    /// </summary>
    /// <remarks>
    /// For requests that are not idempotent, such as a POST that places an order: a retry after a timeout or a reset
    /// connection could place it twice, the first attempt having reached the server.
    /// </remarks>
    public IReadOnlyCollection<HttpMethod> UnretriedMethods
    {
        get => Array.AsReadOnly(_unretriedMethods);
        init
        {
            ArgumentNullException.ThrowIfNull(value);
            HttpMethod[] methods = [.. value];
            if (Array.IndexOf(methods, null) >= 0)
            {
                throw new ArgumentException("The methods not to retry contain null.", nameof(value));
            }

            _unretriedMethods = methods;
        }
    }

    /// <inheritdoc />
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var pipeline = PipelineOf(request);
        var attempts = HttpAttempts.Start(this, request);
        var outcome = await (IsUnretried(request)
                ? pipeline.ExecuteWithoutRetriesOutcomeAsync(static (attempts, token) => attempts.SendAsync(token), attempts, cancellationToken)
                : pipeline.ExecuteOutcomeAsync(static (attempts, token) => attempts.SendAsync(token), attempts, cancellationToken))
            .ConfigureAwait(false);
        return attempts.Finish(in outcome, cancellationToken, asynchronous: true);
    }

    /// <inheritdoc />
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var pipeline = PipelineOf(request);
        var attempts = HttpAttempts.Start(this, request);
        var outcome = IsUnretried(request)
            ? pipeline.ExecuteWithoutRetriesOutcome(static (attempts, token) => attempts.Send(token), attempts, cancellationToken)
            : pipeline.ExecuteOutcome(static (attempts, token) => attempts.Send(token), attempts, cancellationToken);
        return attempts.Finish(in outcome, cancellationToken, asynchronous: false);
    }

    internal Task<HttpResponseMessage> SendToInnerAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.SendAsync(request, cancellationToken);

    internal HttpResponseMessage SendToInner(HttpRequestMessage request, CancellationToken cancellationToken) =>
        base.Send(request, cancellationToken);

    // A few methods at most: a scan costs less than hashing the method's name.
    private bool IsUnretried(HttpRequestMessage request)
    {
        foreach (var method in _unretriedMethods)
        {
            if (method.Equals(request.Method))
            {
                return true;
            }
        }

        return false;
    }

    private ResiliencePipeline<HttpResponseMessage> PipelineOf(HttpRequestMessage request) =>
        _pipelineOf(request) ?? throw new InvalidOperationException("The pipeline selector of the ResilienceHandler returned null.");
}
