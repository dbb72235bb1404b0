namespace Resilience;

/// <summary>An attempt ran out of its time (told to <see cref="TimeoutOptions.OnTimeout"/>).</summary>
/// <param name="PipelineName">The pipeline running the call.</param>
/// <param name="StrategyName">The timeout's name.</param>
/// <param name="Timeout">The timeout the attempt was given.</param>
public readonly record struct TimeoutExpired(string? PipelineName, string StrategyName, TimeSpan Timeout);
