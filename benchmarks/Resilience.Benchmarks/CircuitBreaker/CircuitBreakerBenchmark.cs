using Polly;
using Polly.CircuitBreaker;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>
/// What the breaker benchmarks share: our breaker (standalone and in a pipeline) and Polly v8's, with equivalent
/// options: ratio 0.5 over 10 s, 20 calls minimum, a break long enough to outlast a run.
/// </summary>
public abstract class CircuitBreakerBenchmark
{
    protected static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;

    protected static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    protected Resilience.CircuitBreaker Breaker { get; private set; } = null!;

    protected Resilience.ResiliencePipeline OurPipeline { get; private set; } = null!;

    protected Polly.ResiliencePipeline PollyPipeline { get; private set; } = null!;

    protected void Build()
    {
        Breaker = new Resilience.CircuitBreaker(OurOptions());
        OurPipeline = new Resilience.ResiliencePipelineBuilder().AddCircuitBreaker(Breaker).Build();
        PollyPipeline = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(PollyOptions()).Build();
    }

    /// <summary>Our breaker's options for these benchmarks.</summary>
    internal static CircuitBreakerOptions OurOptions() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };

    /// <summary>Polly's breaker options equivalent to <see cref="OurOptions"/>.</summary>
    internal static CircuitBreakerStrategyOptions PollyOptions() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };
}
