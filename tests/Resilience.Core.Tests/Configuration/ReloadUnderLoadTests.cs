using System.Globalization;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>
/// Reloads racing calls, pushes and disposal. Invariants about concurrency run on real threads, each loop bounded; the
/// rest runs on the fake clock.
/// </summary>
public class ReloadUnderLoadTests
{
    private const string Orders = "Resilience:Pipelines:orders:";
    private const string Breaker = Orders + "CircuitBreaker:";
    private const string Limiter = Orders + "ConcurrencyLimiter:";
    private const string Timeout = Orders + "Timeout:";
    private const string Retry = Orders + "Retry:";

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static Task Run(Action action) =>
        Task.Factory.StartNew(action, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task Calls_on_several_threads_through_valid_and_invalid_reloads_keep_the_limit_the_breaker_and_every_permit()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "Retry",
            [Orders + "Strategies:1"] = "CircuitBreaker",
            [Orders + "Strategies:2"] = "ConcurrencyLimiter",
            [Orders + "Strategies:3"] = "Timeout",
            [Retry + "MaxRetryAttempts"] = "1",
            [Retry + "Delay"] = "00:00:00",
            [Breaker + "MinimumThroughput"] = "1000000",
            [Limiter + "PermitLimit"] = "3",
            [Limiter + "QueueLimit"] = "2",
            [Timeout + "Timeout"] = "00:00:10",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = ((CircuitBreakerStrategy)pipeline.Strategies.Single(s => s is CircuitBreakerStrategy)).Breaker;
        var limiter = (InFlightLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;
        const int Changes = 150;
        var changed = 0;
        var counters = new Counters();
        var unexpected = new List<string>();
        var rejectedChanges = 0;
        var mismatches = new List<string>();

        // The options of every instance, the breaker's state and generation, and the strategies in service, as text.
        string State() => string.Join(
            " | ",
            $"{breaker.Options.FailureRatio} {breaker.State} {breaker.GetSnapshot().Generation}",
            $"{limiter.Options.PermitLimit} {limiter.Options.QueueLimit}",
            string.Join(", ", pipeline.Strategies.Select(s => s switch
            {
                TimeoutStrategy timeout => $"{s.Name} {timeout.Timeout}",
                RetryStrategy retry => $"{s.Name} {retry.Options.MaxRetryAttempts}",
                RateLimiterStrategy { Limiter: TokenBucketLimiter bucket } => $"{s.Name} {bucket.Options.Burst} {bucket.Options.PermitsPerSecond}",
                _ => s.Name,
            })));

        var callers = Enumerable.Range(0, 4).Select(caller => Run(() =>
        {
            for (var i = 0; i < 200_000 && (Volatile.Read(ref changed) == 0 || i < 1_000); i++)
            {
                try
                {
                    var outcome = pipeline.ExecuteOutcome(
                        static (state, _) =>
                        {
                            var now = Interlocked.Increment(ref state.Counters.InFlight);
                            var max = Volatile.Read(ref state.Counters.Max);
                            while (now > max && Interlocked.CompareExchange(ref state.Counters.Max, now, max) != max)
                            {
                                max = Volatile.Read(ref state.Counters.Max);
                            }

                            Thread.SpinWait(20);
                            Interlocked.Decrement(ref state.Counters.InFlight);
                            return state.Fail ? throw new IOException() : 1;
                        },
                        (Counters: counters, Fail: i % 11 == caller),
                        CancellationToken.None);
                    if (!(outcome.IsSuccess || outcome.IsRejected || outcome.Exception is IOException))
                    {
                        lock (unexpected)
                        {
                            unexpected.Add(outcome.ToString()!);
                        }
                    }
                }
                catch (Exception exception)
                {
                    lock (unexpected)
                    {
                        unexpected.Add(exception.ToString());
                    }
                }
            }
        })).ToList();
        await Run(() =>
        {
            for (var i = 0; i < Changes; i++)
            {
                if (i % 3 == 2)
                {
                    // An invalid change (with a valid part): nothing moves, not even the valid part.
                    var before = State();
                    container.Change((Breaker + "FailureRatio", "1.5"), (Limiter + "PermitLimit", "0"), (Timeout + "Timeout", "00:00:07"));
                    if (container.Provider.LastReload is { IsApplied: false })
                    {
                        rejectedChanges++;
                    }

                    var after = State();
                    if (before != after)
                    {
                        mismatches.Add($"{before} -> {after}");
                    }

                    continue;
                }

                // Valid: thresholds, limits, timeouts, retries, and a token bucket added and removed (a rebuild).
                var withBucket = i % 4 < 2;
                container.Change(
                    (Breaker + "FailureRatio", i % 2 == 0 ? "0.6" : "0.7"),
                    (Limiter + "PermitLimit", Text(2 + (i % 3))),
                    (Limiter + "QueueLimit", Text(i % 4)),
                    (Timeout + "Timeout", i % 2 == 0 ? "00:00:09" : "00:00:08"),
                    (Retry + "MaxRetryAttempts", Text(i % 3)),
                    (Orders + "Strategies:4", withBucket ? "TokenBucket" : null),
                    (Orders + "TokenBucket:Burst", withBucket ? "1000000" : null),
                    (Orders + "TokenBucket:PermitsPerSecond", withBucket ? "100000" : null));
                if (container.Provider.LastReload is not { IsApplied: true })
                {
                    mismatches.Add(container.Provider.LastReload!.ToString());
                }
            }

            Volatile.Write(ref changed, 1);
        });
        await Task.WhenAll(callers);

        Assert.Empty(unexpected);
        Assert.Empty(mismatches);
        Assert.Equal(Changes / 3, rejectedChanges);
        Assert.InRange(counters.Max, 1, 4);
        Assert.Equal(0, counters.InFlight);
        Assert.Same(breaker, ((CircuitBreakerStrategy)pipeline.Strategies.Single(s => s is CircuitBreakerStrategy)).Breaker);
        Assert.Same(limiter, pipeline.Strategies.OfType<RateLimiterStrategy>().First(s => s.Limiter is InFlightLimiter).Limiter);
        Assert.Equal(limiter.Options.PermitLimit, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.True(breaker.GetSnapshot().Calls > 0);
    }

    [Fact]
    public async Task Disposing_the_provider_while_calls_run_and_changes_are_signalled_ends_every_call_and_no_notification_throws()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "CircuitBreaker",
            [Orders + "Strategies:1"] = "ConcurrencyLimiter",
            [Orders + "Strategies:2"] = "TokenBucket",
            [Breaker + "MinimumThroughput"] = "1000000",
            [Limiter + "PermitLimit"] = "2",
            [Limiter + "QueueLimit"] = "4",
            [Orders + "TokenBucket:Burst"] = "1000000",
            [Orders + "TokenBucket:PermitsPerSecond"] = "100000",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var started = 0;
        var stop = 0;
        var disposing = 0;
        var unexpected = new List<string>();
        var outcomes = new int[3];

        var callers = Enumerable.Range(0, 4).Select(_ => Run(() =>
        {
            for (var i = 0; i < 200_000 && (Volatile.Read(ref stop) == 0 || i < 100); i++)
            {
                Interlocked.Increment(ref started);
                try
                {
                    var outcome = pipeline.ExecuteOutcome(static (_, _) => { Thread.SpinWait(50); return 1; }, 0, CancellationToken.None);
                    Interlocked.Increment(ref outcomes[outcome.IsSuccess ? 0 : outcome.IsRejected ? 1 : 2]);

                    // A call that reaches a disposed limiter's queue ends with its disposal, as the limiter's own
                    // acquisition does: returned, not thrown.
                    var disposedLimiter = outcome.Exception is ObjectDisposedException && Volatile.Read(ref disposing) == 1;
                    if (!(outcome.IsSuccess || outcome.IsRejected || disposedLimiter))
                    {
                        lock (unexpected)
                        {
                            unexpected.Add(outcome.ToString()!);
                        }
                    }
                }
                catch (Exception exception)
                {
                    lock (unexpected)
                    {
                        unexpected.Add(exception.ToString());
                    }
                }
            }
        })).ToList();
        var watcherErrors = new List<Exception>();
        var changer = Run(() =>
        {
            for (var i = 0; i < 2_000 && Volatile.Read(ref stop) == 0; i++)
            {
                try
                {
                    // A configuration notification raised on this thread, as a watcher raises it.
                    container.Change((Limiter + "PermitLimit", Text(1 + (i % 3))));
                }
                catch (Exception exception)
                {
                    lock (watcherErrors)
                    {
                        watcherErrors.Add(exception);
                    }
                }
            }
        });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (Volatile.Read(ref started) < 2_000 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1);
        }

        Volatile.Write(ref disposing, 1);
        container.Dispose();
        Volatile.Write(ref stop, 1);
        await changer.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(watcherErrors);
        Assert.Empty(unexpected);
        Assert.True(outcomes[0] > 0);
    }

    [Fact]
    public void A_token_bucket_admits_no_more_than_its_first_burst_and_the_rates_in_force_through_valid_and_invalid_changes()
    {
        const string Bucket = Orders + "TokenBucket:";
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "TokenBucket",
            [Bucket + "Burst"] = "10",
            [Bucket + "PermitsPerSecond"] = "10",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var bucket = (TokenBucketLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;
        var random = new Random(7);
        var allowed = 10.0;
        var admitted = 0;
        for (var step = 0; step < 400; step++)
        {
            for (var i = 0; i < 1_000 && pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess; i++)
            {
                admitted++;
            }

            Assert.True(admitted <= Math.Floor(allowed + 1e-9), $"step {step}: {admitted} admitted, at most {allowed} allowed");
            if (step % 5 == 4)
            {
                var options = (bucket.Options.Burst, bucket.Options.PermitsPerSecond);
                if (random.Next(3) == 0)
                {
                    container.Change((Bucket + "Burst", "0"), (Bucket + "PermitsPerSecond", "1000"));
                    Assert.False(container.Provider.LastReload!.IsApplied);
                    Assert.Equal(options, (bucket.Options.Burst, bucket.Options.PermitsPerSecond));
                }
                else
                {
                    container.Change((Bucket + "Burst", Text(random.Next(1, 40))), (Bucket + "PermitsPerSecond", Text(random.Next(1, 40))));
                    Assert.True(container.Provider.LastReload!.IsApplied);
                }
            }

            var elapsed = TimeSpan.FromMilliseconds(random.Next(1, 200));
            allowed += bucket.Options.PermitsPerSecond * elapsed.TotalSeconds;
            container.Time.Advance(elapsed);
        }

        Assert.True(admitted > 100);
        Assert.Same(bucket, pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter);
    }

    [Fact]
    public async Task Pushed_options_and_configuration_changes_racing_on_two_threads_end_with_the_last_one_and_last_reload_says_which()
    {
        const string Payments = "Resilience:CircuitBreakers:payments:";
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Payments + "FailureRatio"] = "0.1",
            [Payments + "MinimumThroughput"] = "7",
        });
        var breaker = container.Provider.GetCircuitBreaker("payments");
        var order = new object();
        var wrong = new List<string>();

        // Each step and its check take turns (the order of the steps is what "last" means); which thread goes next does not.
        void Step(string what, Action change, double expected, string source)
        {
            lock (order)
            {
                change();
                var last = container.Provider.LastReload!;
                if (breaker.Options.FailureRatio != expected || !last.IsApplied || last.Source != source)
                {
                    wrong.Add($"{what}: ratio {breaker.Options.FailureRatio}, expected {expected}; last reload {last}");
                }
            }
        }

        var pusher = Run(() =>
        {
            for (var i = 0; i < 300; i++)
            {
                var ratio = 0.6 + (i % 30 / 100.0);
                Step($"push {i}", () => container.Provider.UpdateOptions("CircuitBreakers:payments", new CircuitBreakerOptions { FailureRatio = ratio, MinimumThroughput = 7 }), ratio, "code (CircuitBreakers:payments)");
            }
        });
        var configurer = Run(() =>
        {
            for (var i = 0; i < 300; i++)
            {
                // Every change differs from the one before, so each is a change of the section.
                var ratio = 0.1 + (i % 2 == 0 ? 0.05 : 0.1) + (i % 20 / 1000.0);
                Step($"configuration {i}", () => container.Change((Payments + "FailureRatio", ratio.ToString(CultureInfo.InvariantCulture))), ratio, "configuration");
            }
        });
        await Task.WhenAll(pusher, configurer);

        Assert.Empty(wrong);
        Assert.Same(breaker, container.Provider.GetCircuitBreaker("payments"));
    }

    [Fact]
    public async Task A_token_bucket_changed_while_callers_on_several_threads_take_permits_admits_no_more_than_its_first_burst_and_the_rates_in_force()
    {
        const string Bucket = Orders + "TokenBucket:";
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "TokenBucket",
            [Bucket + "Burst"] = "50",
            [Bucket + "PermitsPerSecond"] = "100",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var bucket = (TokenBucketLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;
        var admitted = 0;
        var done = 0;
        var allowed = 50.0;

        var callers = Enumerable.Range(0, 3).Select(_ => Run(() =>
        {
            // At least a few calls each: a bucket nobody drained keeps a permit through every change (capped at a burst of 1 or more).
            for (var i = 0; i < 2_000_000 && (Volatile.Read(ref done) == 0 || i < 100); i++)
            {
                if (pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess)
                {
                    Interlocked.Increment(ref admitted);
                }
            }
        })).ToList();
        await Run(() =>
        {
            // The only thread that moves the clock or the settings: it knows the rate in force over every step of time.
            var random = new Random(11);
            for (var step = 0; step < 300; step++)
            {
                if (step % 3 == 0)
                {
                    container.Change((Bucket + "Burst", Text(random.Next(1, 100))), (Bucket + "PermitsPerSecond", Text(random.Next(1, 200))));
                }
                else if (step % 7 == 0)
                {
                    container.Change((Bucket + "Burst", "-1"));
                }

                var elapsed = TimeSpan.FromMilliseconds(random.Next(1, 50));
                allowed += bucket.Options.PermitsPerSecond * elapsed.TotalSeconds;
                container.Time.Advance(elapsed);
                Thread.Yield();
            }

            Volatile.Write(ref done, 1);
        });
        await Task.WhenAll(callers);

        Assert.InRange(Volatile.Read(ref admitted), 1, Math.Floor(allowed + 1e-6));
    }

    [Fact]
    public async Task Asynchronous_calls_queued_and_in_flight_through_rebuilds_that_move_and_drop_strategies_lose_no_permit()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "ConcurrencyLimiter",
            [Orders + "Strategies:1"] = "CircuitBreaker",
            [Limiter + "PermitLimit"] = "3",
            [Limiter + "QueueLimit"] = "8",
            [Breaker + "MinimumThroughput"] = "1000000",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var limiter = (InFlightLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;
        var counters = new Counters();
        var changed = 0;
        var unexpected = 0;

        async Task Caller()
        {
            for (var i = 0; i < 100_000 && (Volatile.Read(ref changed) == 0 || i < 500); i++)
            {
                var outcome = await pipeline.ExecuteOutcomeAsync(
                    static async (state, _) =>
                    {
                        var now = Interlocked.Increment(ref state.InFlight);
                        var max = Volatile.Read(ref state.Max);
                        while (now > max && Interlocked.CompareExchange(ref state.Max, now, max) != max)
                        {
                            max = Volatile.Read(ref state.Max);
                        }

                        await Task.Yield();
                        Interlocked.Decrement(ref state.InFlight);
                        return 1;
                    },
                    counters,
                    CancellationToken.None);
                if (!(outcome.IsSuccess || outcome.IsRejected))
                {
                    Interlocked.Increment(ref unexpected);
                }
            }
        }

        var callers = Enumerable.Range(0, 6).Select(_ => Task.Run(Caller)).ToList();
        await Run(() =>
        {
            for (var i = 0; i < 150; i++)
            {
                // The limiter moves inside and outside the breaker, a timeout comes and goes, and the limit and queue change.
                var limiterFirst = i % 4 < 2;
                container.Change(
                    (Orders + "Strategies:0", limiterFirst ? "ConcurrencyLimiter" : "CircuitBreaker"),
                    (Orders + "Strategies:1", limiterFirst ? "CircuitBreaker" : "ConcurrencyLimiter"),
                    (Orders + "Strategies:2", i % 3 == 0 ? "Timeout" : null),
                    (Timeout + "Timeout", i % 3 == 0 ? "00:01:00" : null),
                    (Limiter + "PermitLimit", Text(1 + (i % 3))),
                    (Limiter + "QueueLimit", Text(i % 5)));
            }

            Volatile.Write(ref changed, 1);
        });
        await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(0, unexpected);
        Assert.InRange(counters.Max, 1, 3);
        Assert.Equal(0, counters.InFlight);
        Assert.Same(limiter, pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter);
        Assert.Equal(limiter.Options.PermitLimit, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(0, limiter.GetStatistics()!.CurrentQueuedCount);
    }

    [Fact]
    public async Task A_breaker_whose_window_is_rebuilt_by_reloads_during_calls_counts_no_call_twice_and_misses_at_most_one_per_thread_and_rebuild()
    {
        using var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "CircuitBreaker",
            [Breaker + "MinimumThroughput"] = "100000000",
            [Breaker + "SamplingDuration"] = "00:01:00",
            [Breaker + "BucketCount"] = "10",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        var breaker = ((CircuitBreakerStrategy)pipeline.Strategies[1]).Breaker;
        const int Threads = 3;
        const int Changes = 100;
        var made = 0;
        var changed = 0;

        var callers = Enumerable.Range(0, Threads).Select(caller => Run(() =>
        {
            for (var i = 0; i < 500_000 && (Volatile.Read(ref changed) == 0 || i < 1_000); i++)
            {
                var outcome = pipeline.ExecuteOutcome<int, int>(static (fail, _) => fail == 0 ? throw new IOException() : 1, i % 5);
                Assert.False(outcome.IsRejected);
                Interlocked.Increment(ref made);
            }
        })).ToList();
        await Run(() =>
        {
            for (var i = 0; i < Changes; i++)
            {
                // The clock stands still: every call stays inside every window, whatever its length and buckets.
                container.Change((Breaker + "SamplingDuration", i % 2 == 0 ? "00:02:00" : "00:01:00"), (Breaker + "BucketCount", Text(10 + (i % 3))));
            }

            Volatile.Write(ref changed, 1);
        });
        await Task.WhenAll(callers);

        var snapshot = breaker.GetSnapshot();
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.InRange(snapshot.Calls, made - (Threads * Changes), made);
        Assert.InRange(snapshot.Failures, (made / 5) - (Threads * Changes) - Threads, (made / 5) + Threads);
    }

    /// <summary>Calls inside the callback now, and the most seen at once.</summary>
    private sealed class Counters
    {
        public int InFlight;
        public int Max;
    }
}
