using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;

namespace Resilience.Benchmarks.RateLimiting;

/// <summary>
/// A successful <c>AttemptAcquire</c> on a bucket that never runs dry, ours against the BCL's token bucket, on one thread
/// and with two threads on one bucket (time per call = total wall time / total calls).
/// </summary>
[MemoryDiagnoser]
public class TokenBucketBenchmarks
{
    private const int CallsPerInvoke = 200_000;

    private TokenBucketLimiter _ours = null!;
    private System.Threading.RateLimiting.TokenBucketRateLimiter _bcl = null!;

    /// <summary>Gets or sets how many threads share the bucket.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ours = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1e9, Burst = 1_000_000_000 });
        _bcl = new System.Threading.RateLimiting.TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = int.MaxValue,
            TokensPerPeriod = int.MaxValue,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(1),
            AutoReplenishment = true,
        });
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ours.Dispose();
        _bcl.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke)]
    public void Bcl_attempt_acquire() => Run(_bcl);

    [Benchmark(OperationsPerInvoke = CallsPerInvoke)]
    public void Ours_attempt_acquire() => Run(_ours);

    private void Run(RateLimiter limiter)
    {
        if (Threads == 1)
        {
            Loop(limiter, CallsPerInvoke);
            return;
        }

        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ => Loop(limiter, CallsPerInvoke / Threads));
    }

    private static void Loop(RateLimiter limiter, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            limiter.AttemptAcquire().Dispose();
        }
    }
}
