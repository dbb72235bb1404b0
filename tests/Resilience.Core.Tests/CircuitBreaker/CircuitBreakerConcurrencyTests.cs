using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>Real threads on one breaker: counts stay exact and half-open admits no more than its probes.</summary>
public class CircuitBreakerConcurrencyTests
{
    [Fact]
    public void Window_totals_equal_what_was_recorded_under_contention()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { FailureRatio = 1, MinimumThroughput = int.MaxValue, TimeProvider = time });
        var threads = Math.Max(4, Environment.ProcessorCount * 2);
        const int PerThread = 250_000;
        using var start = new Barrier(threads);

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < PerThread; i++)
            {
                var permit = breaker.TryAcquire();
                breaker.Record(permit, (i + t) % 4 == 0 ? CircuitCallResult.Failure : CircuitCallResult.Success);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        var snapshot = breaker.GetSnapshot();
        Assert.Equal((long)threads * PerThread, snapshot.Calls);
        Assert.Equal((long)threads * PerThread / 4, snapshot.Failures);
        Assert.Equal(CircuitState.Closed, snapshot.State);
    }

    [Fact]
    public void Counts_recorded_while_buckets_roll_are_never_lost()
    {
        // The clock moves while threads record: every count lands in some bucket of the window (at most one bucket
        // later than its own, at a boundary), and the window is long enough to hold them all.
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            FailureRatio = 1,
            MinimumThroughput = int.MaxValue,
            SamplingDuration = TimeSpan.FromSeconds(1000),
            BucketCount = 1000,
            TimeProvider = time,
        });
        const int Threads = 4;
        const int PerThread = 100_000;
        var running = Threads;

        var ticker = new Thread(() =>
        {
            for (var i = 0; i < 500 && Volatile.Read(ref running) > 0; i++)
            {
                time.Advance(TimeSpan.FromSeconds(1));
                Thread.Sleep(1);
            }
        });
        var workers = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                breaker.Record(breaker.TryAcquire(), CircuitCallResult.Success);
            }

            Interlocked.Decrement(ref running);
        })).ToList();
        ticker.Start();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        ticker.Join();

        Assert.Equal((long)Threads * PerThread, breaker.GetSnapshot().Calls);
    }

    [Fact]
    public void Half_open_never_admits_more_than_the_permitted_probes_when_threads_race()
    {
        var time = new FakeTimeProvider();
        const int Probes = 3;
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            MinimumThroughput = 1,
            FailureRatio = 1,
            PermittedProbes = Probes,
            BreakDuration = TimeSpan.FromSeconds(1),
            ProbeTimeout = TimeSpan.FromHours(1),
            TimeProvider = time,
        });
        var threads = Math.Max(8, Environment.ProcessorCount * 4);

        for (var round = 0; round < 50; round++)
        {
            breaker.Record(breaker.TryAcquire(), CircuitCallResult.Failure);
            Assert.Equal(CircuitState.Open, breaker.State);
            time.Advance(TimeSpan.FromSeconds(1));

            var admitted = new CircuitPermit[threads];
            using var start = new Barrier(threads);
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                start.SignalAndWait();
                admitted[t] = breaker.TryAcquire();
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());

            var probes = admitted.Where(p => p.IsAcquired).ToList();
            Assert.Equal(Probes, probes.Count);
            Assert.All(probes, p => Assert.True(p.IsProbe));
            Assert.Single(probes.Select(p => p.Generation).Distinct());

            // Fail one probe: the round reopens (a fresh round next time).
            breaker.Record(probes[0], CircuitCallResult.Failure);
            time.Advance(TimeSpan.FromMinutes(10));
            var closing = Enumerable.Range(0, Probes).Select(_ => breaker.TryAcquire()).ToList();
            closing.ForEach(p => breaker.Record(p, CircuitCallResult.Success));
            Assert.Equal(CircuitState.Closed, breaker.State);
        }
    }
}
