namespace Resilience.Benchmarks.Pipeline;

/// <summary>Options Polly requires to add <see cref="PollyPassThroughStrategy"/>.</summary>
internal sealed class PollyPassThroughOptions : Polly.ResilienceStrategyOptions
{
}
