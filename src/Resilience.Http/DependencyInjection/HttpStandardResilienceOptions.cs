namespace Resilience.Http;

/// <summary>
/// The options of the five strategies of the pipeline that <c>AddStandardResilienceHandler</c> registers, outermost
/// first, each holding the standard values when created. Code changes them in the handler's <c>configure</c> delegate;
/// configuration (<c>Resilience:Pipelines:{name}:{section}</c>) then overlays them, key by key.
/// </summary>
/// <remarks>
/// The delegate runs on every reading of the settings (when the provider is created, on each reload and each push), once
/// for each strategy, on a fresh object whose strategy's options are the ones being read: set values in it, from nothing
/// but the code, and leave the objects in place (the properties cannot be replaced).
/// </remarks>
public sealed class HttpStandardResilienceOptions
{
    /// <summary>Initializes a new instance of the <see cref="HttpStandardResilienceOptions"/> class with the standard values.</summary>
    public HttpStandardResilienceOptions()
        : this(new InFlightLimiterOptions(), new TimeoutOptions(), new RetryOptions(), new CircuitBreakerOptions(), new TimeoutOptions())
    {
    }

    private HttpStandardResilienceOptions(
        InFlightLimiterOptions rateLimiter, TimeoutOptions totalRequestTimeout, RetryOptions retry, CircuitBreakerOptions circuitBreaker, TimeoutOptions attemptTimeout)
    {
        rateLimiter.PermitLimit = 1000;
        rateLimiter.QueueLimit = 0;
        totalRequestTimeout.Timeout = TimeSpan.FromSeconds(30);
        retry.MaxRetryAttempts = 3;
        retry.Backoff = RetryBackoff.Exponential;
        retry.UseJitter = true;
        retry.Delay = TimeSpan.FromSeconds(2);
        circuitBreaker.FailureRatio = 0.1;
        circuitBreaker.MinimumThroughput = 100;
        circuitBreaker.SamplingDuration = TimeSpan.FromSeconds(30);
        circuitBreaker.BreakDuration = TimeSpan.FromSeconds(5);
        attemptTimeout.Timeout = TimeSpan.FromSeconds(10);
        (RateLimiter, TotalRequestTimeout, Retry, CircuitBreaker, AttemptTimeout) = (rateLimiter, totalRequestTimeout, retry, circuitBreaker, attemptTimeout);
    }

    /// <summary>
    /// Gets the concurrency limiter's options (section <c>ConcurrencyLimiter</c>), outermost: 1000 requests in flight, no
    /// queue, by default.
    /// </summary>
    public InFlightLimiterOptions RateLimiter { get; }

    /// <summary>
    /// Gets the total request timeout's options (section <c>TotalTimeout</c>): the whole request, retries and their
    /// delays included; 30 seconds by default. It must not be shorter than <see cref="AttemptTimeout"/>.
    /// </summary>
    public TimeoutOptions TotalRequestTimeout { get; }

    /// <summary>
    /// Gets the retry's options (section <c>Retry</c>): 3 retries, exponential backoff from 2 seconds with jitter, by
    /// default; it retries what <see cref="HttpOutcomes.IsTransientFailure"/> calls a failure (attempt timeouts too) and
    /// waits as long as a 429's or 503's <c>Retry-After</c> asks, up to <see cref="RetryOptions.MaxRetryAfter"/>.
    /// </summary>
    public RetryOptions Retry { get; }

    /// <summary>
    /// Gets the circuit breaker's options (section <c>CircuitBreaker</c>): opens when 10% of at least 100 requests in 30
    /// seconds failed, for 5 seconds, by default. Its <see cref="CircuitBreakerOptions.SamplingDuration"/> must be at
    /// least twice <see cref="AttemptTimeout"/>'s timeout.
    /// </summary>
    public CircuitBreakerOptions CircuitBreaker { get; }

    /// <summary>Gets the attempt timeout's options (section <c>AttemptTimeout</c>), innermost: each attempt; 10 seconds by default.</summary>
    public TimeoutOptions AttemptTimeout { get; }

    /// <summary>
    /// Gives one strategy's options, being read, the standard values and then the code's: <paramref name="configure"/> runs
    /// on options whose other strategies' are throwaway copies.
    /// </summary>
    internal static void Apply(
        Action<HttpStandardResilienceOptions>? configure,
        InFlightLimiterOptions? rateLimiter = null,
        TimeoutOptions? totalRequestTimeout = null,
        RetryOptions? retry = null,
        CircuitBreakerOptions? circuitBreaker = null,
        TimeoutOptions? attemptTimeout = null)
    {
        var options = new HttpStandardResilienceOptions(
            rateLimiter ?? new(), totalRequestTimeout ?? new(), retry ?? new(), circuitBreaker ?? new(), attemptTimeout ?? new());
        configure?.Invoke(options);
    }
}
