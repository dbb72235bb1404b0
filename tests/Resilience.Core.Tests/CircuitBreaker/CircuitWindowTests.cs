using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// The window's tags order buckets and generations: a late count can never erase or join a newer bucket, in a thread's
/// own cell (plain stores; 64 own cells: every numbered thread has one) as in a shared one (no own cells).
/// </summary>
public class CircuitWindowTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);
    private readonly FakeTimeProvider _time = new();

    [Theory]
    [InlineData(0)]
    [InlineData(ThreadSlot.Count)]
    public void A_late_count_from_a_bucket_that_left_the_window_neither_counts_nor_erases(int ownCells)
    {
        var breaker = Create(bucketCount: 4, TimeSpan.FromSeconds(4));
        var window = WindowOf(breaker, ownCells);
        _time.Advance(Second / 2);
        var then = _time.GetTimestamp();
        _time.Advance(4 * Second);
        var now = _time.GetTimestamp();

        for (var i = 0; i < 3; i++)
        {
            window.Record(now, 0, failure: true, slow: false);
        }

        // A recorder that read the clock a whole lap ago (four buckets) writes only now, into the same ring slot.
        window.Record(then, 0, failure: false, slow: true);

        Assert.Equal((3L, 3L, 0L), window.Sum(now, 0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ThreadSlot.Count)]
    public void A_late_count_of_an_older_generation_neither_counts_nor_erases(int ownCells)
    {
        var breaker = Create(bucketCount: 10, TimeSpan.FromSeconds(10));
        for (var i = 0; i < 5; i++)
        {
            breaker.Close();
        }

        var window = WindowOf(breaker, ownCells);
        var now = _time.GetTimestamp();
        for (var i = 0; i < 3; i++)
        {
            window.Record(now, 5, failure: false, slow: false);
        }

        // A recorder that passed its generation check before the last reset writes only now.
        window.Record(now, 4, failure: true, slow: true);

        Assert.Equal((3L, 0L, 0L), window.Sum(now, 5));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ThreadSlot.Count)]
    public void Buckets_of_an_earlier_generation_are_not_summed_even_at_the_same_time(int ownCells)
    {
        var breaker = Create(bucketCount: 10, TimeSpan.FromSeconds(10));
        var window = WindowOf(breaker, ownCells);
        _time.Advance(3 * Second);
        var now = _time.GetTimestamp();
        window.Record(now - (3 * Second).Ticks, 0, failure: true, slow: false);
        window.Record(now, 0, failure: true, slow: false);
        breaker.Close();

        window.Record(now, 1, failure: false, slow: false);

        Assert.Equal((1L, 0L, 0L), window.Sum(now, 1));
    }

    [Fact]
    public void A_word_untouched_long_enough_for_its_tag_to_wrap_is_recognised_as_stale()
    {
        // One bucket of a millisecond: a lap is a millisecond, so 3.5 × 2^30 ms later the old words' tags look, modulo
        // 2^32, slightly newer than the current one. They must be replaced, not taken for a later lap.
        var breaker = Create(bucketCount: 1, TimeSpan.FromMilliseconds(1));
        var threads = Enumerable.Range(0, Math.Max(8, Environment.ProcessorCount * 4)).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < 1000; i++)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, CircuitCallResult.Success);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        _time.Advance(TimeSpan.FromMilliseconds(3.5 * (1L << 30)));
        Assert.Equal(0, breaker.GetSnapshot().Calls);
        breaker.TryAcquire(out var late);
        breaker.Record(late, CircuitCallResult.Failure);

        Assert.Equal((1L, 1L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }

    [Theory]
    [InlineData(10_000_000, 630_822_816_000_000_000)]
    [InlineData(10_000_000, 630_822_815_999_999_999)]
    [InlineData(3, 3)]
    [InlineData(3, 2)]
    [InlineData(33_333_333, 630_822_816_091_771_776)]
    [InlineData(33_333_333, 630_822_816_091_771_775)]
    public void Bucket_numbers_are_exact_at_boundaries(long bucketTicks, long ticks)
    {
        var window = new CircuitWindow(Create(1, TimeSpan.FromSeconds(1)), 1, bucketTicks);

        Assert.Equal(ticks / bucketTicks, window.EpochOf(ticks));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(ThreadSlot.Count)]
    public void Totals_equal_what_threads_recorded_in_own_and_shared_cells(int ownCells)
    {
        // With two own cells, threads numbered 0 and 1 write plainly and the rest swap on shared cells, at once.
        var breaker = Create(bucketCount: 10, TimeSpan.FromSeconds(10));
        var window = WindowOf(breaker, ownCells);
        var now = _time.GetTimestamp();
        const int Threads = 6;
        const int PerThread = 200_000;
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                window.Record(now, 0, failure: (i + t) % 4 == 0, slow: (i + t) % 8 == 0);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(((long)Threads * PerThread, (long)Threads * PerThread / 4, (long)Threads * PerThread / 8), window.Sum(now, 0));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(ThreadSlot.Count)]
    public void A_count_whose_tag_is_zero_like_an_unwritten_word_is_summed(int ownCells)
    {
        // At the clock's origin, in generation 0, a count's tag equals an unwritten word's: it still counts.
        var window = WindowOf(Create(bucketCount: 10, TimeSpan.FromSeconds(10)), ownCells);

        window.Record(0, 0, failure: true, slow: false);

        Assert.Equal((1L, 1L, 0L), window.Sum(0, 0));
    }

    [Fact]
    public void A_reshaped_window_carries_counts_recorded_in_own_and_shared_cells()
    {
        var breaker = Create(bucketCount: 10, TimeSpan.FromSeconds(10));
        var now = _time.GetTimestamp();
        var owned = WindowOf(breaker, ThreadSlot.Count);
        var shared = WindowOf(breaker, 0);
        for (var i = 0; i < 3; i++)
        {
            owned.Record(now, 0, failure: true, slow: false);
            shared.Record(now, 0, failure: false, slow: true);
        }

        // Carried into the first shared cell, which the calling thread, numbered, then adds to from its own cell too.
        var reshaped = WindowOf(breaker, ThreadSlot.Count, bucketCount: 5);
        reshaped.CopyFrom(owned, now, 0);
        reshaped.CopyFrom(shared, now, 0);
        reshaped.Record(now, 0, failure: true, slow: true);

        Assert.Equal((7L, 4L, 4L), reshaped.Sum(now, 0));
    }

    private static CircuitWindow WindowOf(Breaker breaker, int ownCells, int? bucketCount = null) =>
        new(breaker, bucketCount ?? breaker.Window.BucketCount, breaker.Window.BucketTicks * breaker.Window.BucketCount / (bucketCount ?? breaker.Window.BucketCount), ownCells);

    private Breaker Create(int bucketCount, TimeSpan samplingDuration) =>
        new(new CircuitBreakerOptions { BucketCount = bucketCount, SamplingDuration = samplingDuration, MinimumThroughput = int.MaxValue, TimeProvider = _time });
}
