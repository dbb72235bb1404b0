using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Polly.Fallback;
using Polly.Retry;

namespace Resilience.Benchmarks.Composite;

/// <summary>
/// A realistic pipeline, fallback + circuit breaker + rate limiter + timeout (then with a retry added), on the success
/// path, and one failed attempt followed by a success with zero delay; ours against Polly v8 with the same shape. Then
/// the degraded steady state: the same pipeline with its circuit held open, the fallback serving every call.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CompositePipelineBenchmarks
{
    private static readonly Func<int, CancellationToken, ValueTask<int>> Success = static (s, _) => new ValueTask<int>(s + 1);

    private ResiliencePipeline<int> _ours = null!;
    private ResiliencePipeline<int> _oursWithRetry = null!;
    private global::Polly.ResiliencePipeline<int> _polly = null!;
    private global::Polly.ResiliencePipeline<int> _pollyWithRetry = null!;
    private ResiliencePipeline<int> _oursDegraded = null!;
    private global::Polly.ResiliencePipeline<int> _pollyDegraded = null!;
    private int _attempt;

    [GlobalSetup]
    public void Setup()
    {
        _ours = Ours(retry: false);
        _oursWithRetry = Ours(retry: true);
        _polly = PollyPipeline(retry: false);
        _pollyWithRetry = PollyPipeline(retry: true);

        // Held open by hand, so that both stay open for the whole run whatever their break durations.
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { FailureRatio = 0.9, MinimumThroughput = 100, BreakDuration = TimeSpan.FromSeconds(5) });
        breaker.Isolate();
        _oursDegraded = Ours(retry: false, breaker);
        var control = new global::Polly.CircuitBreaker.CircuitBreakerManualControl();
        _pollyDegraded = PollyPipeline(retry: false, control);
        control.IsolateAsync().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("success")]
    public int Polly_success() => _polly.ExecuteAsync(Success, 1).Result;

    [Benchmark, BenchmarkCategory("success")]
    public int Ours_success() => _ours.ExecuteAsync(Success, 1).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("success, with retry")]
    public int Polly_success_with_retry() => _pollyWithRetry.ExecuteAsync(Success, 1).Result;

    [Benchmark, BenchmarkCategory("success, with retry")]
    public int Ours_success_with_retry() => _oursWithRetry.ExecuteAsync(Success, 1).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("one failure, then success")]
    public int Polly_failure_then_success() => _pollyWithRetry.ExecuteAsync(static (self, _) => self.FailOnce(), this).Result;

    [Benchmark, BenchmarkCategory("one failure, then success")]
    public int Ours_failure_then_success() => _oursWithRetry.ExecuteAsync(static (self, _) => self.FailOnce(), this).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("circuit held open, fallback serves")]
    public int Polly_degraded() => _pollyDegraded.ExecuteAsync(Success, 1).Result;

    [Benchmark, BenchmarkCategory("circuit held open, fallback serves")]
    public int Ours_degraded() => _oursDegraded.ExecuteAsync(Success, 1).Result;

    // A fresh exception per failure: rethrowing one instance would grow its stack trace on every run.
    private ValueTask<int> FailOnce() => ++_attempt % 2 == 1 ? ValueTask.FromException<int>(new InvalidOperationException("transient")) : new ValueTask<int>(_attempt);

    private static ResiliencePipeline<int> Ours(bool retry, Resilience.CircuitBreaker? breaker = null)
    {
        var builder = new ResiliencePipelineBuilder<int>()
            .AddFallback(-1);
        if (retry)
        {
            builder.AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, UseJitter = false });
        }

        return (breaker is null
                ? builder.AddCircuitBreaker(new CircuitBreakerOptions { FailureRatio = 0.9, MinimumThroughput = 100, BreakDuration = TimeSpan.FromSeconds(5) })
                : builder.AddCircuitBreaker(breaker))
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1e9, Burst = 1_000_000_000 })
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
    }

    private static global::Polly.ResiliencePipeline<int> PollyPipeline(bool retry, global::Polly.CircuitBreaker.CircuitBreakerManualControl? control = null)
    {
        var builder = new global::Polly.ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackStrategyOptions<int> { FallbackAction = static _ => global::Polly.Outcome.FromResultAsValueTask(-1) });
        if (retry)
        {
            builder.AddRetry(new RetryStrategyOptions<int> { MaxRetryAttempts = 3, Delay = TimeSpan.Zero });
        }

        return builder
            .AddCircuitBreaker(new global::Polly.CircuitBreaker.CircuitBreakerStrategyOptions<int> { FailureRatio = 0.9, MinimumThroughput = 100, BreakDuration = TimeSpan.FromSeconds(5), ManualControl = control })
            .AddRateLimiter(new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = int.MaxValue,
                TokensPerPeriod = int.MaxValue,
                ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
                AutoReplenishment = true,
            }))
            .AddTimeout(TimeSpan.FromSeconds(10))
            .Build();
    }
}
