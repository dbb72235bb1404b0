namespace Resilience;

/// <summary>What <see cref="RetryOptions.DelayGenerator"/> is given to choose the delay before a retry.</summary>
/// <param name="PipelineName">The pipeline running the call.</param>
/// <param name="StrategyName">The retry's name.</param>
/// <param name="RetryNumber">The retry about to be made: 1 for the first.</param>
/// <param name="Failure">
/// What failed: the attempt's exception, a rejection materialised as its exception (a new instance), or
/// <see langword="null"/> for a result the retry's predicate handled.
/// </param>
/// <param name="Delay">The delay the retry computed: the backoff after jitter, or the retry-after hint (a past one as zero).</param>
/// <param name="RetryAfter">The retry-after hint the failure carried, as it was given; <see langword="null"/> when there was none.</param>
public readonly record struct RetryDelayArguments(string? PipelineName, string StrategyName, int RetryNumber, Exception? Failure, TimeSpan Delay, TimeSpan? RetryAfter);
