using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;

namespace Resilience.Benchmarks.RateLimiting;

/// <summary>
/// Acquire and release one concurrency permit: through a pipeline (ours with our limiter; Polly.RateLimiting with the
/// BCL's limiter) and through the public <c>RateLimiter</c> API (ours against the BCL's).
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class ConcurrencyLimiterBenchmarks
{
    private static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    private InFlightLimiter _ours = null!;
    private ConcurrencyLimiter _bcl = null!;
    private ResiliencePipeline _pipeline = null!;
    private Polly.ResiliencePipeline _polly = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ours = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 100 });
        _bcl = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 100 });
        _pipeline = new ResiliencePipelineBuilder().AddRateLimiter(new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 100 })).Build();
        _polly = new Polly.ResiliencePipelineBuilder()
            .AddRateLimiter(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 100 }))
            .Build();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("pipeline")]
    public int Polly_with_bcl_limiter() => _polly.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark, BenchmarkCategory("pipeline")]
    public int Ours_pipeline() => _pipeline.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("limiter API")]
    public bool Bcl_acquire_release()
    {
        using var lease = _bcl.AttemptAcquire();
        return lease.IsAcquired;
    }

    [Benchmark, BenchmarkCategory("limiter API")]
    public bool Ours_acquire_release()
    {
        using var lease = _ours.AttemptAcquire();
        return lease.IsAcquired;
    }
}
