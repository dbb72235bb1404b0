using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

[Collection(ActivityListenerCollection.Name)]
public sealed class TelemetryStrategyTests : IDisposable
{
    private readonly ResilienceTelemetry _telemetry = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _telemetry.Dispose();

    private MetricCollector<long> Counter(string name) => new(_telemetry.Meter, name);

    private ResiliencePipelineBuilder Builder(string name = "orders") =>
        new ResiliencePipelineBuilder { Name = name, TimeProvider = _time }.AddTelemetry(_telemetry);

    [Fact]
    public void Calls_are_counted_by_pipeline_and_outcome()
    {
        using var calls = Counter("resilience.pipeline.calls");
        var pipeline = Builder().AddStrategy(new Resilience.Tests.Pipeline.RecordingStrategy("inner")).Build();
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        pipeline.Execute(static _ => 1);
        pipeline.Execute(static _ => 2);
        Assert.Throws<IOException>(() => pipeline.Execute<int>(static _ => throw new IOException()));
        Assert.Throws<OperationCanceledException>(() => pipeline.Execute<int>(static ct => { ct.ThrowIfCancellationRequested(); return 0; }, cancelled.Token));

        var byOutcome = calls.GetMeasurementSnapshot()
            .GroupBy(m => (string)m.Tags["outcome"]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(new Dictionary<string, long> { ["success"] = 2, ["failure"] = 1, ["cancelled"] = 1 }, byOutcome);
        Assert.All(calls.GetMeasurementSnapshot(), m => Assert.Equal("orders", m.Tags["pipeline"]));
    }

    [Fact]
    public async Task Duration_is_measured_on_the_pipeline_clock_in_seconds()
    {
        using var duration = new MetricCollector<double>(_telemetry.Meter, "resilience.pipeline.duration");
        var pipeline = Builder().Build();

        await pipeline.ExecuteAsync(async ct =>
        {
            await Task.Yield();
            _time.Advance(TimeSpan.FromMilliseconds(250));
            return 1;
        });

        var measurement = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal(0.25, measurement.Value, 6);
        Assert.Equal("success", measurement.Tags["outcome"]);
    }

    [Fact]
    public void Without_a_listener_nothing_is_recorded_and_the_clock_is_not_read()
    {
        var time = new CountingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { Name = "quiet", TimeProvider = time }.AddTelemetry(_telemetry).Build();

        for (var i = 0; i < 100; i++)
        {
            pipeline.Execute(static _ => 1);
        }

        Assert.Equal(0, time.TimestampReads);

        // With the duration listened to, the clock is read once entering and once exiting each call.
        using var duration = new MetricCollector<double>(_telemetry.Meter, "resilience.pipeline.duration");
        pipeline.Execute(static _ => 1);
        Assert.Equal(2, time.TimestampReads);
        Assert.Single(duration.GetMeasurementSnapshot());
    }

    [Fact]
    public void A_meter_listener_on_call_counts_alone_gets_every_call_and_no_clock_is_read()
    {
        var time = new CountingTimeProvider();
        var pipeline = new ResiliencePipelineBuilder { Name = "listened", TimeProvider = time }.AddTelemetry(_telemetry).Build();
        var calls = 0L;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, _telemetry.Meter) && instrument.Name == "resilience.pipeline.calls")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref calls, value));
        listener.Start();

        for (var i = 0; i < 10; i++)
        {
            pipeline.Execute(static _ => 1);
        }

        Assert.Equal(10, Interlocked.Read(ref calls));
        Assert.Equal(0, time.TimestampReads);
    }

    [Fact]
    public async Task A_listener_that_starts_or_stops_while_calls_are_in_flight_counts_each_call_it_saw_start_and_end_once()
    {
        var attempts = 0;
        var retry = new Resilience.Tests.Pipeline.RecordingStrategy("retry") { OnExit = (o, _) => o.IsHandled ? ExitAction.Retry(TimeSpan.Zero) : ExitAction.Continue };
        var pipeline = Builder().AddStrategy(retry).Build();
        var startedQuiet = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var endsUnheard = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var quietCall = pipeline.ExecuteAsync(_ => new ValueTask<int>(startedQuiet.Task));
        var calls = new List<(long Value, string Outcome)>();
        var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, _telemetry.Meter) && instrument.Name is "resilience.pipeline.calls" or "resilience.retry.attempts")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (calls)
            {
                calls.Add((value, instrument.Name == "resilience.retry.attempts" ? "retry" : (string)tags.ToArray().Single(t => t.Key == "outcome").Value!));
            }
        });
        listener.Start();

        var unheardCall = pipeline.ExecuteAsync(_ => new ValueTask<int>(endsUnheard.Task));
        startedQuiet.SetResult(1);
        await quietCall;
        await pipeline.ExecuteAsync(_ => ++attempts < 2 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts));
        listener.Dispose();
        endsUnheard.SetResult(3);
        await unheardCall;

        // The call that began unheard is not counted (nobody saw it start), the one still running when the listener
        // went away is not either; the one in between is counted once, with its one retry.
        Assert.Equal([(1L, "retry"), (1L, "success")], calls);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public async Task A_call_whose_strategy_throws_from_a_hook_is_counted_once_as_a_failure(int length)
    {
        using var calls = Counter("resilience.pipeline.calls");
        var builder = Builder();
        var strategies = Enumerable.Range(0, length).Select(i => new Resilience.Tests.Pipeline.HookStrategy($"s{i}")).ToArray();
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        var pipeline = builder.Build();
        strategies[^1].ThrowOnEnter = new InvalidOperationException("enter");
        pipeline.ExecuteOutcome(static (_, _) => 1, 0);
        strategies[^1].ThrowOnEnter = null;
        strategies[0].ThrowOnExit = new InvalidOperationException("exit");
        await pipeline.ExecuteOutcomeAsync(static async (_, _) => { await Task.Yield(); return 1; }, 0);

        Assert.Equal(["failure", "failure"], calls.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!));
    }

    [Fact]
    public async Task A_retry_whose_delay_the_caller_cancels_is_not_counted_as_an_attempt()
    {
        using var retries = Counter("resilience.retry.attempts");
        var retry = new Resilience.Tests.Pipeline.RecordingStrategy("retry") { OnExit = (o, _) => o.IsHandled ? ExitAction.Retry(TimeSpan.FromMinutes(1)) : ExitAction.Continue };
        var pipeline = Builder().AddStrategy(retry).Build();
        using var caller = new CancellationTokenSource();
        var attempts = 0;

        var cancelled = pipeline.ExecuteOutcomeAsync((_, _) => ++attempts == 1 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts), 0, caller.Token);
        caller.Cancel();
        Assert.True((await cancelled).Exception is OperationCanceledException);
        Assert.Empty(retries.GetMeasurementSnapshot());

        attempts = 0;
        var retried = pipeline.ExecuteOutcomeAsync((_, _) => ++attempts == 1 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts), 0);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2, (await retried).Result);
        Assert.Equal(1, Assert.Single(retries.GetMeasurementSnapshot()).Value);
    }

    [Fact]
    public async Task An_attempt_a_timeout_cuts_short_is_counted_once_per_attempt_and_a_caller_cancellation_is_not()
    {
        using var expired = Counter("resilience.timeout.expired");
        var pipeline = Builder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false })
            .AddTimeout(new TimeoutOptions { Name = "attempt-timeout", Timeout = TimeSpan.FromSeconds(1) })
            .Build();

        // Both attempts outlast the timeout: two expirations, one call.
        var outcome = await pipeline.ExecuteOutcomeAsync(
            (time, ct) =>
            {
                time.Advance(TimeSpan.FromSeconds(2));
                ct.ThrowIfCancellationRequested();
                return new ValueTask<int>(0);
            },
            _time);

        Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        Assert.Equal(2, expired.GetMeasurementSnapshot().Count);
        Assert.All(expired.GetMeasurementSnapshot(), m => Assert.Equal(("orders", "attempt-timeout"), ((string)m.Tags["pipeline"]!, (string)m.Tags["strategy"]!)));

        // The caller's own cancellation is no timeout.
        using var caller = new CancellationTokenSource();
        var cancelled = await pipeline.ExecuteOutcomeAsync(
            (source, ct) =>
            {
                source.Cancel();
                ct.ThrowIfCancellationRequested();
                return new ValueTask<int>(0);
            },
            caller,
            caller.Token);

        Assert.IsAssignableFrom<OperationCanceledException>(cancelled.Exception);
        Assert.IsNotType<TimeoutRejectedException>(cancelled.Exception);
        Assert.Equal(2, expired.GetMeasurementSnapshot().Count);
    }

    [Fact]
    public void Telemetry_is_outermost_whatever_the_order_and_only_once()
    {
        var inner = new Resilience.Tests.Pipeline.RecordingStrategy("inner");
        var builder = new ResiliencePipelineBuilder { Name = "orders" }.AddStrategy(inner).AddTelemetry(_telemetry);

        Assert.Equal(["Telemetry", inner.Name], builder.Strategies.Select(s => s.Name));
        Assert.Throws<InvalidOperationException>(() => builder.AddTelemetry(_telemetry));
    }

    [Fact]
    public void Rejections_inside_the_pipeline_are_counted_by_strategy_even_when_a_fallback_replaces_them()
    {
        using var rejections = Counter("resilience.circuit_breaker.rejections");
        using var served = Counter("resilience.fallback.served");
        using var calls = Counter("resilience.pipeline.calls");
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", TimeProvider = _time });
        breaker.Isolate();
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("cached", 7) } })
            .AddCircuitBreaker(breaker)
            .Build();

        Assert.Equal(7, pipeline.Execute(static _ => 1));

        var rejection = Assert.Single(rejections.GetMeasurementSnapshot());
        Assert.Equal(("orders", "inventory", "isolated_circuit"), ((string)rejection.Tags["pipeline"]!, (string)rejection.Tags["strategy"]!, (string)rejection.Tags["reason"]!));
        var fallback = Assert.Single(served.GetMeasurementSnapshot());
        Assert.Equal("cached", fallback.Tags["level"]);
        Assert.Equal("success", Assert.Single(calls.GetMeasurementSnapshot()).Tags["outcome"]);
    }

    [Fact]
    public void Inner_events_are_reported_while_nobody_listens_to_calls_or_durations()
    {
        using var rejections = Counter("resilience.circuit_breaker.rejections");
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", TimeProvider = _time });
        breaker.Isolate();
        var pipeline = Builder().AddCircuitBreaker(breaker).Build();

        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected);

        Assert.Equal(1, Assert.Single(rejections.GetMeasurementSnapshot()).Value);
        Assert.Equal(["Telemetry", "inventory"], pipeline.Strategies.Select(s => s.Name));
    }

    [Fact]
    public void Rejections_that_reach_the_caller_are_counted_as_rejected_calls()
    {
        using var limited = Counter("resilience.rate_limiter.rejections");
        using var calls = Counter("resilience.pipeline.calls");
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = Builder().AddRateLimiter(limiter).Build();

        var outcome = pipeline.ExecuteOutcome((_, _) => pipeline.ExecuteOutcome(static (_, _) => 1, 0), 0);

        Assert.True(outcome.Result.IsRejected);
        Assert.Equal(1, Assert.Single(limited.GetMeasurementSnapshot()).Value);
        Assert.Equal(["rejected", "success"], calls.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!));
    }

    [Fact]
    public async Task Retries_and_waits_for_a_permit_are_counted()
    {
        using var retries = Counter("resilience.retry.attempts");
        using var waits = Counter("resilience.rate_limiter.waits");
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder { Name = "orders" }
            .AddTelemetry(_telemetry)
            .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.Zero, UseJitter = false })
            .AddRateLimiter(limiter)
            .Build();
        var release = new TaskCompletionSource();
        var attempts = 0;

        var holder = pipeline.ExecuteAsync(async _ => await release.Task);
        var waiter = pipeline.ExecuteAsync(_ => ++attempts < 3 ? throw new IOException() : ValueTask.FromResult(attempts));
        release.SetResult();
        await holder;

        Assert.Equal(3, await waiter);
        Assert.Equal(2, retries.GetMeasurementSnapshot().Sum(m => m.Value));
        var wait = Assert.Single(waits.GetMeasurementSnapshot());
        Assert.Equal("InFlightLimiter", wait.Tags["strategy"]);
    }

    [Theory]
    [InlineData("resilience.circuit_breaker.rejections")]
    [InlineData("resilience.rate_limiter.waits")]
    [InlineData("resilience.retry.attempts")]
    [InlineData("resilience.retry.budget_refusals")]
    [InlineData("resilience.fallback.served")]
    public async Task A_listener_that_throws_while_an_inner_event_is_reported_loses_that_measurement_only(string instrument)
    {
        // The listener throws from every measurement of one instrument: a fault of the listener, not of the call.
        using var listener = ThrowingListener(instrument);

        // The outer limiter's exit returns its one permit: an exit skipped would keep it.
        using var outer = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        using var gate = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1 });
        var builder = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }.AddTelemetry(_telemetry).AddRateLimiter(outer);
        var attempts = 0;
        Outcome<int> outcome;
        switch (instrument)
        {
            case "resilience.circuit_breaker.rejections":
                var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", TimeProvider = _time });
                breaker.Isolate();
                outcome = builder.AddCircuitBreaker(breaker).Build().ExecuteOutcome(static (_, _) => 1, 0);
                Assert.IsType<IsolatedCircuitException>(outcome.Exception);
                break;

            case "resilience.rate_limiter.waits":
                var held = gate.AttemptAcquire();
                var waiting = builder.AddRateLimiter(gate).Build().ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
                Assert.Equal(1L, gate.GetStatistics()!.CurrentQueuedCount);
                held.Dispose();
                outcome = await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.Equal(1, outcome.Result);
                Assert.Equal(1L, gate.GetStatistics()!.CurrentAvailablePermits);
                break;

            case "resilience.retry.attempts":
                var retrying = builder.AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }).Build();
                outcome = retrying.ExecuteOutcome((_, _) => ++attempts == 1 ? throw new IOException() : attempts, 0);
                Assert.Equal(2, outcome.Result);
                break;

            case "resilience.retry.budget_refusals":
                // The refusal is reported from the retry's own exit: the listener's exception must not become its outcome.
                var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2 });
                budget.RecordFailure();
                var throttled = builder.AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false, Budget = budget }).Build();
                outcome = throttled.ExecuteOutcome((_, _) => { attempts++; throw new IOException("down"); }, 0);
                Assert.IsType<IOException>(outcome.Exception);
                Assert.Equal(1, attempts);
                break;

            default:
                var falling = builder.AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("cached", 7) } }).Build();
                outcome = falling.ExecuteOutcome(static (_, _) => throw new IOException(), 0);
                Assert.Equal(7, outcome.Result);
                break;
        }

        Assert.IsNotType<InvalidOperationException>(outcome.Exception);
        Assert.Equal(1L, outer.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void A_listener_that_throws_while_a_breaker_transition_is_counted_does_not_fail_the_call_that_opened_it()
    {
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var telemetry = new ResilienceTelemetry(loggerFactory: loggerFactory);
        using var listener = ThrowingListener(telemetry.Meter, "resilience.circuit_breaker.transitions");
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", MinimumThroughput = 1, TimeProvider = _time });
        using var tracked = telemetry.Track(breaker);
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }.AddTelemetry(telemetry).AddCircuitBreaker(breaker).Build();

        var outcome = pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);

        Assert.IsType<IOException>(outcome.Exception);
        Assert.Equal(CircuitState.Open, breaker.State);

        // The listener's exception is logged, and the transition's own message still follows.
        var logged = logs.Collector.GetSnapshot();
        Assert.Equal(["ReportFailed", "CircuitOpened"], logged.Select(l => l.Id.Name));
        Assert.Equal("listener", logged[0].Exception?.Message);
        Assert.Equal("A listener threw while a circuit breaker transition of 'inventory' was reported; the measurement was dropped and the call went on.", logged[0].Message);
    }

    [Fact]
    public void A_logger_that_throws_while_a_breaker_transition_is_logged_does_not_fail_the_call_that_opened_it()
    {
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(new ThrowingLoggerProvider()));
        using var telemetry = new ResilienceTelemetry(loggerFactory: loggerFactory);
        using var transitions = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.transitions");
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", MinimumThroughput = 1, TimeProvider = _time });
        using var tracked = telemetry.Track(breaker);
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }
            .AddTelemetry(telemetry)
            .AddRateLimiter(limiter)
            .AddCircuitBreaker(breaker)
            .Build();

        var outcome = pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException("attempt"), 0);

        // The logger's fault is not the call's: the outcome is the attempt's own failure.
        Assert.IsType<IOException>(outcome.Exception);
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal("open", Assert.Single(transitions.GetMeasurementSnapshot()).Tags["to"]);
    }

    [Fact]
    public void A_listener_that_throws_while_the_call_is_counted_loses_that_measurement_only()
    {
        using var logs = new FakeLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        using var telemetry = new ResilienceTelemetry(loggerFactory: loggerFactory);
        using var listener = ThrowingListener(telemetry.Meter, "resilience.pipeline.calls");
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }.AddTelemetry(telemetry).AddRateLimiter(limiter).Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.True(outcome.IsSuccess, outcome.Exception?.ToString());
        Assert.Equal(1, outcome.Result);
        Assert.Equal(1L, limiter.GetStatistics()!.CurrentAvailablePermits);
        var logged = Assert.Single(logs.Collector.GetSnapshot());
        Assert.Equal("ReportFailed", logged.Id.Name);
        Assert.Equal("listener", logged.Exception?.Message);
    }

    /// <summary>A listener whose callback throws from every measurement of one instrument of this test's meter.</summary>
    private MeterListener ThrowingListener(string instrument) => ThrowingListener(_telemetry.Meter, instrument);

    /// <summary>A listener whose callback throws from every measurement of one instrument of <paramref name="meter"/>.</summary>
    private static MeterListener ThrowingListener(Meter meter, string instrument)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (published, meterListener) =>
            {
                if (ReferenceEquals(published.Meter, meter) && published.Name == instrument)
                {
                    meterListener.EnableMeasurementEvents(published);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>(static (_, _, _, _) => throw new InvalidOperationException("listener"));
        listener.Start();
        return listener;
    }

    [Fact]
    public void Events_are_added_to_the_current_activity_when_the_source_is_listened_to()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is ResilienceTelemetry.ActivitySourceName or "test",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test");
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", MinimumThroughput = 1, TimeProvider = _time });
        _telemetry.Track(breaker);
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("default", 0) } })
            .AddCircuitBreaker(breaker)
            .Build();

        using var activity = source.StartActivity("request")!;
        pipeline.Execute(static _ => throw new IOException());
        pipeline.Execute(static _ => 1);

        Assert.Equal(
            ["resilience.circuit_breaker.transition", "resilience.fallback", "resilience.rejection", "resilience.fallback"],
            activity.Events.Select(e => e.Name));
        var transition = activity.Events.First().Tags.ToDictionary(t => t.Key, t => t.Value);
        Assert.Equal(("inventory", "closed", "open", "failure_ratio"), (transition["strategy"], transition["from"], transition["to"], transition["reason"]));
    }
    [Fact]
    public void Duration_includes_a_fallback_that_completes_synchronously_after_an_inner_exit_read_the_clock()
    {
        using var duration = new MetricCollector<double>(_telemetry.Meter, "resilience.pipeline.duration");

        // A breaker that measures slow calls reads the clock as it exits, before the fallback outside it runs.
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddFallback(new FallbackOptions<int>
            {
                Levels = { FallbackLevel<int>.FromFactory("disk", _ => { _time.Advance(TimeSpan.FromMilliseconds(250)); return 0; }) },
            })
            .AddCircuitBreaker(new CircuitBreakerOptions { Name = "inventory", SlowCallDuration = TimeSpan.FromSeconds(1), TimeProvider = _time })
            .Build();

        pipeline.Execute(_ =>
        {
            _time.Advance(TimeSpan.FromMilliseconds(100));
            throw new IOException();
        });

        var measurement = Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal(("success", 0.35), ((string)measurement.Tags["outcome"]!, Math.Round(measurement.Value, 6)));
    }

    [Fact]
    public void Duration_is_recorded_for_a_call_that_starts_when_the_clock_reads_zero()
    {
        using var duration = new MetricCollector<double>(_telemetry.Meter, "resilience.pipeline.duration");
        var clock = new ManualTimestampProvider();
        var pipeline = new ResiliencePipelineBuilder { Name = "orders", TimeProvider = clock }.AddTelemetry(_telemetry).Build();

        pipeline.Execute(_ =>
        {
            clock.Timestamp += TimeSpan.TicksPerMillisecond * 40;
            return 1;
        });

        Assert.Equal(0.04, Assert.Single(duration.GetMeasurementSnapshot()).Value, 6);
    }
}
