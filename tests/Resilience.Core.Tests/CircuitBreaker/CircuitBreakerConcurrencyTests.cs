using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>Real threads on one breaker: counts stay exact, transitions never lose or misplace a count, half-open admits no more than its probes.</summary>
public class CircuitBreakerConcurrencyTests
{
    private static readonly int Threads = Math.Max(4, Environment.ProcessorCount * 2);

    [Fact]
    public void Window_totals_equal_what_was_recorded_under_contention()
    {
        var breaker = new Breaker(new CircuitBreakerOptions { FailureRatio = 1, MinimumThroughput = int.MaxValue, SlowCallDuration = TimeSpan.FromHours(1), TimeProvider = new FakeTimeProvider() });
        const int PerThread = 250_000;

        RunTogether(Threads, t =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, (i + t) % 4 == 0 ? CircuitCallResult.Failure : CircuitCallResult.Success, TimeSpan.FromHours((i + t) % 8 == 0 ? 1 : 0));
            }
        });

        var snapshot = breaker.GetSnapshot();
        Assert.Equal((long)Threads * PerThread, snapshot.Calls);
        Assert.Equal((long)Threads * PerThread / 4, snapshot.Failures);
        Assert.Equal((long)Threads * PerThread / 8, snapshot.SlowCalls);
        Assert.Equal(CircuitState.Closed, snapshot.State);
    }

    [Fact]
    public void Counts_recorded_while_buckets_roll_are_never_lost()
    {
        // The clock moves while threads record: every count lands in its own bucket, and the window (1,000 buckets of
        // a second) is long enough to hold them all.
        var time = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            FailureRatio = 1,
            MinimumThroughput = int.MaxValue,
            SamplingDuration = TimeSpan.FromSeconds(1000),
            BucketCount = 1000,
            TimeProvider = time,
        });
        const int Workers = 4;
        const int PerThread = 100_000;
        var running = Workers;

        var ticker = new Thread(() =>
        {
            for (var i = 0; i < 500 && Volatile.Read(ref running) > 0; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                Thread.Sleep(1);
            }
        });
        ticker.Start();
        RunTogether(Workers, _ =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, CircuitCallResult.Success);
            }

            Interlocked.Decrement(ref running);
        });
        ticker.Join();

        Assert.Equal((long)Workers * PerThread, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Resets_racing_recorders_never_lose_or_misplace_a_count_of_the_current_generation()
    {
        // Recorders keep acquiring and recording while another thread resets the breaker again and again. Late results
        // of earlier generations must neither count nor erase counts: once the resets stop, the window holds exactly
        // the calls admitted in the final generation.
        var breaker = new Breaker(new CircuitBreakerOptions { FailureRatio = 1, MinimumThroughput = int.MaxValue, TimeProvider = new FakeTimeProvider() });
        const int Workers = 3;
        const int PerThread = 300_000;
        var recorded = new Dictionary<uint, long>[Workers];
        var resetting = 1;

        var resetter = new Thread(() =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                breaker.Close();
                Thread.SpinWait(500);
            }

            Volatile.Write(ref resetting, 0);
        });
        resetter.Start();
        RunTogether(Workers, t =>
        {
            var mine = recorded[t] = [];
            for (var i = 0; i < PerThread || Volatile.Read(ref resetting) == 1; i++)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, i % 3 == 0 ? CircuitCallResult.Failure : CircuitCallResult.Success);
                mine[permit.Generation] = mine.GetValueOrDefault(permit.Generation) + 1;
            }
        });
        resetter.Join();

        var final = breaker.GetSnapshot();
        var expected = recorded.Sum(r => r.GetValueOrDefault(final.Generation));
        Assert.Equal(2_000u, final.Generation);
        Assert.Equal(expected, final.Calls);
    }

    [Fact]
    public void Reshaping_the_window_under_load_misses_at_most_one_call_per_recorder_and_counts_none_twice()
    {
        var time = new FakeTimeProvider();
        CircuitBreakerOptions Shape(int buckets) => new() { FailureRatio = 1, MinimumThroughput = int.MaxValue, SamplingDuration = TimeSpan.FromSeconds(buckets), BucketCount = buckets, TimeProvider = time };
        var breaker = new Breaker(Shape(10));
        const int Workers = 3;
        const int Reshapes = 200;
        var recorded = new long[Workers];
        var reshaping = 1;

        var updater = new Thread(() =>
        {
            for (var i = 0; i < Reshapes; i++)
            {
                // Buckets of one second in both shapes, so every count fits either window.
                breaker.UpdateOptions(Shape(i % 2 == 0 ? 20 : 10));
                Thread.SpinWait(2_000);
            }

            Volatile.Write(ref reshaping, 0);
        });
        updater.Start();
        RunTogether(Workers, t =>
        {
            while (Volatile.Read(ref reshaping) == 1)
            {
                breaker.TryAcquire(out var permit);
                breaker.Record(permit, CircuitCallResult.Success);
                recorded[t]++;
            }
        });
        updater.Join();

        var calls = breaker.GetSnapshot().Calls;
        Assert.InRange(calls, recorded.Sum() - (Workers * Reshapes), recorded.Sum());
        Assert.Equal(10, breaker.Options.BucketCount);
    }

    [Fact]
    public void Half_open_never_admits_more_than_the_permitted_probes_when_threads_race()
    {
        var time = new FakeTimeProvider();
        const int Probes = 3;
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 1,
            FailureRatio = 1,
            PermittedProbes = Probes,
            BreakDuration = TimeSpan.FromSeconds(1),
            ProbeTimeout = TimeSpan.FromMinutes(1),
            TimeProvider = time,
        });
        var racers = Math.Max(8, Environment.ProcessorCount * 4);

        for (var round = 0; round < 50; round++)
        {
            breaker.TryAcquire(out var opener);
            breaker.Record(opener, CircuitCallResult.Failure);
            Assert.Equal(CircuitState.Open, breaker.State);
            time.Advance(TimeSpan.FromSeconds(1));

            // Every racer tries twice: the first wave races Open -> HalfOpen, the second races for the slots left.
            var permits = new CircuitPermit[racers * 2];
            RunTogether(racers, t =>
            {
                breaker.TryAcquire(out permits[t]);
                breaker.TryAcquire(out permits[racers + t]);
            });

            var probes = permits.Where(p => p.IsAcquired).ToList();
            Assert.Equal(Probes, probes.Count);
            Assert.All(probes, p => Assert.True(p.IsProbe));
            Assert.Single(probes.Select(p => p.Generation).Distinct());

            // Once the round is overdue, racers start exactly one new round between them.
            time.Advance(TimeSpan.FromMinutes(1));
            RunTogether(racers, t => breaker.TryAcquire(out permits[t]));
            var fresh = permits.Take(racers).Where(p => p.IsAcquired).ToList();
            Assert.Equal(Probes, fresh.Count);
            Assert.Single(fresh.Select(p => p.Generation).Distinct());
            Assert.Equal(probes[0].Generation + 1, fresh[0].Generation);

            fresh.ForEach(p => breaker.Record(p, CircuitCallResult.Success));
            Assert.Equal(CircuitState.Closed, breaker.State);
        }
    }

    [Fact]
    public void Racing_openings_with_jitter_keep_the_break_the_opened_event_reports()
    {
        // Every failure opens (one consecutive failure), so all racers of a round try to open the same generation. The
        // break the breaker keeps must be the one the Opened event reports, whichever racer computed it.
        var time = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            ConsecutiveFailures = 1,
            BreakDuration = TimeSpan.FromSeconds(10),
            MaxBreakDuration = TimeSpan.FromSeconds(20),
            BreakDurationJitter = 0.9,
            JitterSeed = 3,
            TimeProvider = time,
        });
        const int Rounds = 300;
        var reported = TimeSpan.Zero;
        breaker.Opened += (_, t) => reported = t.BreakDuration!.Value;
        var mismatches = new List<(TimeSpan Reported, TimeSpan? Kept)>();
        using var round = new Barrier(Threads, _ =>
        {
            if (breaker.State == CircuitState.Open)
            {
                breaker.GetSnapshot(out var kept);
                var expected = TimeSpan.FromMilliseconds(Math.Ceiling(reported.TotalMilliseconds));
                if (kept != expected)
                {
                    mismatches.Add((expected, kept));
                }

                breaker.Close();
            }
        });

        RunTogether(Threads, _ =>
        {
            for (var i = 0; i < Rounds; i++)
            {
                breaker.TryAcquire(out var permit);
                round.SignalAndWait();
                breaker.Record(permit, CircuitCallResult.Failure);
                round.SignalAndWait();
            }
        });

        Assert.Empty(mismatches);
    }

    private static void RunTogether(int threads, Action<int> body)
    {
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            body(t);
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
    }
}
