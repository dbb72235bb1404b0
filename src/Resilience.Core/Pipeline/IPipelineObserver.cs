namespace Resilience;

/// <summary>
/// What a pipeline reports to its telemetry besides the outcome of each call: the events that happen inside it, which
/// an outermost strategy cannot see (an inner rejection replaced by a fallback, a retry). The engine calls it only on
/// those paths, never on a call that admits, succeeds and passes every exit.
/// </summary>
internal interface IPipelineObserver
{
    /// <summary>A strategy refused the call.</summary>
    void OnRejected(in Rejection rejection);

    /// <summary>A strategy asked the engine to await admission (a limiter's queue).</summary>
    void OnWaiting(ResilienceStrategy strategy);

    /// <summary>A strategy asked for the inner part to run again after <paramref name="delay"/>.</summary>
    void OnRetry(ResilienceStrategy strategy, TimeSpan delay);

    /// <summary>A strategy's fallback produced <paramref name="outcome"/>.</summary>
    void OnFallback<TResult>(ResilienceStrategy strategy, in Outcome<TResult> outcome);
}
