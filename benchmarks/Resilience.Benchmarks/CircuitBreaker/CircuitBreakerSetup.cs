using Polly.CircuitBreaker;
using Resilience.CircuitBreaker;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>Equivalent options for our breaker and Polly v8's: ratio 0.5 over 10 s, 20 calls minimum, a long break.</summary>
internal static class CircuitBreakerSetup
{
    public static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;

    public static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    public static CircuitBreakerOptions BreakerOptions() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };

    public static CircuitBreakerStrategyOptions PollyOptions() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };
}
