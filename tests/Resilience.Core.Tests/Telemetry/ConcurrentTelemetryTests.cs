using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Real threads make a known mix of calls through instrumented pipelines while every instrument is listened to: each
/// counter must equal the known count, the histogram must hold one measurement per call, and every measurement must
/// carry exactly the tags the documentation lists for its instrument.
/// </summary>
public sealed class ConcurrentTelemetryTests
{
    private const int Workers = 4;
    private const int CallsPerWorker = 300;
    private const int Calls = Workers * CallsPerWorker;
    private const int Burst = 137;

    [Fact]
    public async Task Every_count_is_exact_and_every_call_has_one_duration_under_concurrent_calls()
    {
        using var telemetry = new ResilienceTelemetry();
        var documented = DocumentedInstrument.ReadAll().ToDictionary(row => row.Name);
        using var calls = new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls");
        using var durations = new MetricCollector<double>(telemetry.Meter, "resilience.pipeline.duration");
        using var breakerRejections = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.rejections");
        using var limiterRejections = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.rejections");
        using var customRejections = new MetricCollector<long>(telemetry.Meter, "resilience.strategy.rejections");
        using var retries = new MetricCollector<long>(telemetry.Meter, "resilience.retry.attempts");
        using var fallbacks = new MetricCollector<long>(telemetry.Meter, "resilience.fallback.served");
        using var states = new MetricCollector<int>(telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.permits_available");

        var retried = Builder("retried", telemetry)
            .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, static _ => true)
            .Build();
        var failing = Builder("failing", telemetry).Build();
        var ledger = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "ledger", TimeProvider = new FakeTimeProvider() });
        ledger.Isolate();
        var isolated = Builder("isolated", telemetry).AddCircuitBreaker(ledger).Build();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = Burst, TimeProvider = new FakeTimeProvider() });
        var limited = Builder("limited", telemetry).AddRateLimiter(bucket, name: "bucket").Build();
        var fallbackOptions = new FallbackOptions<int>();
        fallbackOptions.Levels.Add(FallbackLevel<int>.FromValue("cache", -1));
        var served = new ResiliencePipelineBuilder<int> { Name = "served", TimeProvider = new FakeTimeProvider() }
            .AddTelemetry(telemetry)
            .AddFallback(fallbackOptions)
            .AddStrategy(new SheddingStrategy("shed"))
            .Build();
        var timeoutClock = new FakeTimeProvider();
        var timed = new ResiliencePipelineBuilder { Name = "timed", TimeProvider = timeoutClock }
            .AddTelemetry(telemetry)
            .AddTimeout(new TimeoutOptions { Name = "timeout", Timeout = TimeSpan.FromSeconds(1), TimeProvider = timeoutClock })
            .Build();
        using var trackedLedger = telemetry.Track(ledger);
        using var trackedBucket = telemetry.Track(bucket, "bucket");

        var failures = new int[6];
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < CallsPerWorker; i++)
            {
                var attempts = 0;
                retried.Execute(_ => ++attempts == 1 ? throw new IOException("first attempt") : attempts);
                Count(failures, 0, () => failing.Execute<int>(static _ => throw new IOException("always")));
                Count(failures, 1, () => isolated.Execute(static _ => 1));
                Count(failures, 2, () => limited.Execute(static _ => 1));
                Assert.Equal(-1, served.Execute(static _ => 1));
                try
                {
                    await timed.ExecuteAsync(async ct =>
                    {
                        // Past the timeout of this call (and of any other in flight: they all time out).
                        timeoutClock.Advance(TimeSpan.FromSeconds(2));
                        await Task.Delay(System.Threading.Timeout.Infinite, ct);
                        return 0;
                    });
                }
                catch (TimeoutRejectedException)
                {
                    Interlocked.Increment(ref failures[3]);
                }
            }
        })));

        Assert.Equal([Calls, Calls, Calls - Burst, Calls], failures[..4]);
        var expected = new Dictionary<(string, string), long>
        {
            [("retried", "success")] = Calls,
            [("failing", "failure")] = Calls,
            [("isolated", "rejected")] = Calls,
            [("limited", "success")] = Burst,
            [("limited", "rejected")] = Calls - Burst,
            [("served", "success")] = Calls,
            [("timed", "failure")] = Calls,
        };
        Assert.Equal(expected.OrderBy(pair => pair.Key), Sum(calls, "pipeline", "outcome").OrderBy(pair => pair.Key));
        Assert.Equal(expected.OrderBy(pair => pair.Key), durations.GetMeasurementSnapshot()
            .GroupBy(m => ((string)m.Tags["pipeline"]!, (string)m.Tags["outcome"]!))
            .ToDictionary(g => g.Key, g => (long)g.Count())
            .OrderBy(pair => pair.Key));
        Assert.Equal(new Dictionary<(string, string), long> { [("ledger", "isolated_circuit")] = Calls }, Sum(breakerRejections, "strategy", "reason"));
        Assert.Equal(new Dictionary<(string, string), long> { [("bucket", "rate_limited")] = Calls - Burst }, Sum(limiterRejections, "strategy", "reason"));
        Assert.Equal(new Dictionary<(string, string), long> { [("shed", "custom")] = Calls }, Sum(customRejections, "strategy", "reason"));
        Assert.Equal(new Dictionary<(string, string), long> { [("retried", "retry")] = Calls }, Sum(retries, "pipeline", "strategy"));
        Assert.Equal(new Dictionary<(string, string), long> { [("served", "cache")] = Calls }, Sum(fallbacks, "pipeline", "level"));

        // Every measurement carries the documented tags, no more: nothing per call (a message, a value) becomes a tag.
        foreach (var (name, collector) in new (string, MetricCollector<long>)[]
        {
            ("resilience.pipeline.calls", calls), ("resilience.circuit_breaker.rejections", breakerRejections),
            ("resilience.rate_limiter.rejections", limiterRejections), ("resilience.strategy.rejections", customRejections),
            ("resilience.retry.attempts", retries), ("resilience.fallback.served", fallbacks),
        })
        {
            Assert.All(collector.GetMeasurementSnapshot(), m => Assert.Equal(documented[name].Tags.Order(), m.Tags.Keys.Order()));
        }

        Assert.All(durations.GetMeasurementSnapshot(), m => Assert.Equal(documented["resilience.pipeline.duration"].Tags.Order(), m.Tags.Keys.Order()));

        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        Assert.Equal((int)ledger.State, Assert.Single(states.GetMeasurementSnapshot()).Value);
        Assert.Equal(bucket.GetStatistics()!.CurrentAvailablePermits, Assert.Single(permits.GetMeasurementSnapshot()).Value);
        Assert.Equal(0, permits.LastMeasurement!.Value);
    }

    [Fact]
    public async Task A_breaker_opened_and_closed_again_by_concurrent_calls_counts_each_transition_once_and_each_call_once()
    {
        using var telemetry = new ResilienceTelemetry();
        using var calls = new MetricCollector<long>(telemetry.Meter, "resilience.pipeline.calls");
        using var rejections = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.rejections");
        using var transitions = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.transitions");
        using var states = new MetricCollector<int>(telemetry.Meter, "resilience.circuit_breaker.state");
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            Name = "ledger",
            MinimumThroughput = 10,
            BreakDuration = TimeSpan.FromSeconds(10),
            TimeProvider = time,
        });
        using var tracked = telemetry.Track(breaker);
        var pipeline = new ResiliencePipelineBuilder { Name = "guarded", TimeProvider = time }.AddTelemetry(telemetry).AddCircuitBreaker(breaker).Build();

        // Every call fails: the breaker opens once, and every call it refuses is a rejection.
        var failed = await RunAsync(() => Count(pipeline, static _ => throw new IOException("down")));
        states.RecordObservableInstruments();
        Assert.Equal((int)CircuitState.Open, states.LastMeasurement!.Value);

        // The break passes; every call succeeds: one probe closes it again.
        time.Advance(TimeSpan.FromSeconds(10));
        var succeeded = await RunAsync(() => Count(pipeline, static _ => 1));
        states.RecordObservableInstruments();
        Assert.Equal((int)CircuitState.Closed, states.LastMeasurement!.Value);

        Assert.InRange(failed, 10, Calls);
        Assert.InRange(succeeded, 1, Calls);
        Assert.Equal(
            new Dictionary<(string, string), long>
            {
                [("guarded", "failure")] = failed,
                [("guarded", "rejected")] = (2 * Calls) - failed - succeeded,
                [("guarded", "success")] = succeeded,
            }.Where(pair => pair.Value > 0).OrderBy(pair => pair.Key),
            Sum(calls, "pipeline", "outcome").OrderBy(pair => pair.Key));
        Assert.Equal((2 * Calls) - failed - succeeded, rejections.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(
            [("closed", "open", "failure_ratio"), ("open", "half_open", "break_elapsed"), ("half_open", "closed", "probes_succeeded")],
            transitions.GetMeasurementSnapshot().Select(m => ((string)m.Tags["from"]!, (string)m.Tags["to"]!, (string)m.Tags["reason"]!)));
        var documented = DocumentedInstrument.ReadAll().ToDictionary(row => row.Name);
        Assert.All(transitions.GetMeasurementSnapshot(), m => Assert.Equal(documented["resilience.circuit_breaker.transitions"].Tags.Order(), m.Tags.Keys.Order()));
        Assert.All(rejections.GetMeasurementSnapshot(), m => Assert.Equal(documented["resilience.circuit_breaker.rejections"].Tags.Order(), m.Tags.Keys.Order()));
    }

    // Makes Calls calls on Workers threads; returns how many callbacks ran.
    private static async Task<int> RunAsync(Func<bool> call)
    {
        var invoked = 0;
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < CallsPerWorker; i++)
            {
                if (call())
                {
                    Interlocked.Increment(ref invoked);
                }
            }
        })));
        return invoked;
    }

    // Makes one call; returns whether its callback ran (the breaker admitted it).
    private static bool Count(ResiliencePipeline pipeline, Func<CancellationToken, int> callback)
    {
        try
        {
            pipeline.Execute(callback);
            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (BrokenCircuitException)
        {
            return false;
        }
    }

    private static ResiliencePipelineBuilder Builder(string name, ResilienceTelemetry telemetry) =>
        new ResiliencePipelineBuilder { Name = name, TimeProvider = new FakeTimeProvider() }.AddTelemetry(telemetry);

    private static void Count(int[] failures, int index, Action call)
    {
        try
        {
            call();
        }
        catch (Exception exception) when (exception is IOException or BrokenCircuitException or RateLimiterRejectedException)
        {
            Interlocked.Increment(ref failures[index]);
        }
    }

    private static Dictionary<(string, string), long> Sum(MetricCollector<long> collector, string first, string second) =>
        collector.GetMeasurementSnapshot()
            .GroupBy(m => ((string)m.Tags[first]!, (string)m.Tags[second]!))
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
}
