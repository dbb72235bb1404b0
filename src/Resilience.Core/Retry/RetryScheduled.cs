namespace Resilience;

/// <summary>A retry decided to run the attempt again (told to <see cref="RetryOptions.OnRetry"/> before the delay starts).</summary>
/// <param name="PipelineName">The pipeline running the call.</param>
/// <param name="StrategyName">The retry's name.</param>
/// <param name="RetryNumber">The retry about to be made: 1 for the first.</param>
/// <param name="Delay">The delay waited before it, as <see cref="RetryOptions.DelayGenerator"/> left it.</param>
/// <param name="Failure">
/// What failed: the attempt's exception, a rejection materialised as its exception (a new instance), or
/// <see langword="null"/> for a result the retry's predicate handled.
/// </param>
public readonly record struct RetryScheduled(string? PipelineName, string StrategyName, int RetryNumber, TimeSpan Delay, Exception? Failure);
