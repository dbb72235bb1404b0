using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using Resilience.Time;

namespace Resilience.Benchmarks.RateLimiting;

/// <summary>
/// A successful <c>AttemptAcquire</c> on a bucket that never runs dry, ours against the BCL's token bucket, on one thread
/// and with two threads on one bucket (time per call = total wall time / total calls). Two more rows time one shared
/// word without a bucket: a read and a compare-and-swap alone, and the same after a reading of the bucket's clock, so
/// that each core does a grant's own work between its swaps as a bucket's callers do (a tight loop of swaps alone lets
/// one core swap several times while it holds the word's cache line). Neither backs off after a lost swap, as the
/// bucket does: the second is what two threads cost a one-word bucket whose cores take turns on every grant.
/// </summary>
[MemoryDiagnoser]
public class TokenBucketBenchmarks
{
    private const int CallsPerInvoke = 200_000;

    private readonly SharedWord _word = new();
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
    public void Bcl_attempt_acquire() => ParallelCalls.Run(_bcl, Threads, CallsPerInvoke, Loop);

    [Benchmark(OperationsPerInvoke = CallsPerInvoke)]
    public void Ours_attempt_acquire() => ParallelCalls.Run(_ours, Threads, CallsPerInvoke, Loop);

    [Benchmark(OperationsPerInvoke = CallsPerInvoke)]
    public void Shared_word_compare_and_swap() => ParallelCalls.Run(_word, Threads, CallsPerInvoke, static (word, calls) => word.Advance(calls));

    [Benchmark(OperationsPerInvoke = CallsPerInvoke)]
    public void Shared_word_after_clock_read() => ParallelCalls.Run(_word, Threads, CallsPerInvoke, static (word, calls) => word.AdvanceAfterClock(calls));

    private static void Loop(RateLimiter limiter, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            limiter.AttemptAcquire().Dispose();
        }
    }

    private sealed class SharedWord
    {
        private long _value;

        [MethodImpl(MethodImplOptions.NoInlining)]
        public void Advance(int calls)
        {
            for (var i = 0; i < calls; i++)
            {
                var seen = Volatile.Read(ref _value);
                while (Interlocked.CompareExchange(ref _value, seen + 1, seen) is var current && current != seen)
                {
                    seen = current;
                }
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public void AdvanceAfterClock(int calls)
        {
            for (var i = 0; i < calls; i++)
            {
                var now = CoarseClock.Milliseconds;
                var seen = Volatile.Read(ref _value);
                while (Interlocked.CompareExchange(ref _value, Math.Max(seen, now) + 1, seen) is var current && current != seen)
                {
                    seen = current;
                }
            }
        }
    }
}
