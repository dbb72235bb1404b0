using System.Diagnostics.Metrics;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

public sealed class ComponentTelemetryTests : IDisposable
{
    private readonly FakeLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly ResilienceTelemetry _telemetry;
    private readonly FakeTimeProvider _time = new();

    public ComponentTelemetryTests()
    {
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs));
        _telemetry = new ResilienceTelemetry(loggerFactory: _loggerFactory);
    }

    public void Dispose()
    {
        _telemetry.Dispose();
        _loggerFactory.Dispose();
        _logs.Dispose();
    }

    private Resilience.CircuitBreaker Breaker(string name) => new(new CircuitBreakerOptions
    {
        Name = name,
        MinimumThroughput = 2,
        BreakDuration = TimeSpan.FromSeconds(10),
        TimeProvider = _time,
    });

    private static void Call(Resilience.CircuitBreaker breaker, CircuitCallResult result)
    {
        breaker.TryAcquire(out var permit);
        breaker.Record(permit, result);
    }

    [Fact]
    public void Breaker_state_and_failure_ratio_are_gauges_read_when_collected()
    {
        var breaker = Breaker("inventory");
        using var registration = _telemetry.Track(breaker);
        using var state = new MetricCollector<int>(_telemetry.Meter, "resilience.circuit_breaker.state");
        using var ratio = new MetricCollector<double>(_telemetry.Meter, "resilience.circuit_breaker.failure_ratio");

        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        state.RecordObservableInstruments();
        ratio.RecordObservableInstruments();
        Assert.Equal((int)CircuitState.Open, state.LastMeasurement!.Value);
        Assert.Equal("inventory", state.LastMeasurement.Tags["strategy"]);

        breaker.Close();
        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Success);
        Call(breaker, CircuitCallResult.Failure);
        state.RecordObservableInstruments();
        ratio.RecordObservableInstruments();
        Assert.Equal((int)CircuitState.Closed, state.LastMeasurement!.Value);
        Assert.Equal(1d / 3, ratio.LastMeasurement!.Value, 9);
    }

    [Fact]
    public void Transitions_are_counted_and_logged()
    {
        var breaker = Breaker("inventory");
        using var registration = _telemetry.Track(breaker);
        using var transitions = new MetricCollector<long>(_telemetry.Meter, "resilience.circuit_breaker.transitions");

        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        _time.Advance(TimeSpan.FromSeconds(10));
        Call(breaker, CircuitCallResult.Success);

        Assert.Equal(
            [("closed", "open", "failure_ratio"), ("open", "half_open", "break_elapsed"), ("half_open", "closed", "probes_succeeded")],
            transitions.GetMeasurementSnapshot().Select(m => ((string)m.Tags["from"]!, (string)m.Tags["to"]!, (string)m.Tags["reason"]!)));
        var logs = _logs.Collector.GetSnapshot();
        Assert.Equal([LogLevel.Warning, LogLevel.Information, LogLevel.Information], logs.Select(l => l.Level));
        Assert.Equal("Circuit breaker 'inventory' opened from closed (failure_ratio): 2 failures and 0 slow calls of 2; open for 00:00:10.", logs[0].Message);
        Assert.Equal("CircuitOpened", logs[0].Id.Name);
    }

    [Fact]
    public void Untracked_breakers_are_no_longer_observed_and_tracking_twice_counts_once()
    {
        var breaker = Breaker("inventory");
        using var transitions = new MetricCollector<long>(_telemetry.Meter, "resilience.circuit_breaker.transitions");
        using var state = new MetricCollector<int>(_telemetry.Meter, "resilience.circuit_breaker.state");
        var registration = _telemetry.Track(breaker);
        _telemetry.Track(breaker, "again").Dispose();

        breaker.Isolate();
        registration.Dispose();
        breaker.Close();
        state.RecordObservableInstruments();

        Assert.Equal(1, Assert.Single(transitions.GetMeasurementSnapshot()).Value);
        Assert.Empty(state.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task Limiter_permits_and_queue_and_budget_balance_are_gauges()
    {
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 5, TimeProvider = _time });
        var inFlight = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 3, QueueLimit = 2 });
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10 });
        using var a = _telemetry.Track(bucket, "api");
        using var b = _telemetry.Track(inFlight, "db");
        using var c = _telemetry.Track(budget, "backend");
        using var permits = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var queued = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.queued");
        using var balance = new MetricCollector<double>(_telemetry.Meter, "resilience.retry_budget.balance");

        using var taken = bucket.AttemptAcquire(2);
        var held = Enumerable.Range(0, 3).Select(_ => inFlight.AttemptAcquire()).ToList();
        var waiting = inFlight.AcquireAsync(1);
        budget.RecordFailure();
        permits.RecordObservableInstruments();
        queued.RecordObservableInstruments();
        balance.RecordObservableInstruments();

        var byName = permits.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags["strategy"]!, m => m.Value);
        Assert.Equal(new Dictionary<string, long> { ["api"] = 3, ["db"] = 0 }, byName);
        Assert.Equal(1, queued.GetMeasurementSnapshot().Single(m => (string)m.Tags["strategy"]! == "db").Value);
        Assert.Equal(9, Assert.Single(balance.GetMeasurementSnapshot()).Value, 9);

        held.ForEach(lease => lease.Dispose());
        (await waiting).Dispose();
    }

    [Fact]
    public void A_tracked_limiter_disposed_without_untracking_is_skipped_and_the_others_are_still_collected()
    {
        // A collection that throws loses every instrument read after it in that pass, whatever their meter.
        var disposed = new System.Threading.RateLimiting.ConcurrencyLimiter(new() { PermitLimit = 2, QueueLimit = 0 });
        var live = new System.Threading.RateLimiting.ConcurrencyLimiter(new() { PermitLimit = 4, QueueLimit = 0 });
        using var a = _telemetry.Track(disposed, "gone");
        using var b = _telemetry.Track(live, "live");
        using var permits = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var queued = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.queued");
        disposed.Dispose();

        permits.RecordObservableInstruments();
        queued.RecordObservableInstruments();

        Assert.Equal(("live", 4L), ((string)Assert.Single(permits.GetMeasurementSnapshot()).Tags["strategy"]!, permits.LastMeasurement!.Value));
        Assert.Equal("live", Assert.Single(queued.GetMeasurementSnapshot()).Tags["strategy"]);
    }

    [Fact]
    public void Instances_tracked_and_then_dropped_by_their_owner_are_collected_and_leave_the_gauges()
    {
        using var states = new MetricCollector<int>(_telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var balances = new MetricCollector<double>(_telemetry.Meter, "resilience.retry_budget.balance");
        var dropped = TrackAndDrop(states, permits, balances);
        states.Clear();
        permits.Clear();
        balances.Clear();

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.All(dropped, reference => Assert.False(reference.IsAlive));
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        balances.RecordObservableInstruments();
        Assert.Empty(states.GetMeasurementSnapshot());
        Assert.Empty(permits.GetMeasurementSnapshot());
        Assert.Empty(balances.GetMeasurementSnapshot());
    }

    // Tracks three instances, sees them reported while alive, and drops them with their registrations, undisposed;
    // returns weak references to them.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private WeakReference[] TrackAndDrop(MetricCollector<int> states, MetricCollector<long> permits, MetricCollector<double> balances)
    {
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "tenant-42" });
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 5 });
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10 });
        _telemetry.Track(breaker);
        _telemetry.Track(bucket, "tenant-42-limiter");
        _telemetry.Track(budget, "tenant-42-budget");
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        balances.RecordObservableInstruments();
        Assert.Equal((1, 1, 1), (states.GetMeasurementSnapshot().Count, permits.GetMeasurementSnapshot().Count, balances.GetMeasurementSnapshot().Count));
        GC.KeepAlive(breaker);
        GC.KeepAlive(bucket);
        GC.KeepAlive(budget);
        return [new(breaker), new(bucket), new(budget)];
    }

    [Fact]
    public void A_meter_from_a_factory_belongs_to_it()
    {
        using var factory = new TestMeterFactory();
        using var telemetry = new ResilienceTelemetry(factory);

        Assert.Same(factory.Created.Single(), telemetry.Meter);
        Assert.Equal(ResilienceTelemetry.MeterName, telemetry.Meter.Name);
    }

    [Fact]
    public void Disposed_telemetry_stops_reporting_on_a_meter_its_factory_keeps()
    {
        // The factory's meter outlives the telemetry: the instances tracked on it were reported for as long as they
        // lived, their registrations never disposed, under the instruments of a disposed telemetry.
        using var factory = new TestMeterFactory();
        var telemetry = new ResilienceTelemetry(factory, _loggerFactory);
        var breaker = Breaker("payments");
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 2 });
        var budget = new RetryBudget(new RetryBudgetOptions());
        telemetry.Track(breaker);
        telemetry.Track(limiter, "db");
        telemetry.Track(budget, "backend");
        using var states = new MetricCollector<int>(telemetry.Meter, "resilience.circuit_breaker.state");
        using var permits = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.permits_available");
        using var balances = new MetricCollector<double>(telemetry.Meter, "resilience.retry_budget.balance");
        using var transitions = new MetricCollector<long>(telemetry.Meter, "resilience.circuit_breaker.transitions");
        states.RecordObservableInstruments();
        Assert.Single(states.GetMeasurementSnapshot());
        states.Clear();

        telemetry.Dispose();
        Call(breaker, CircuitCallResult.Failure);
        Call(breaker, CircuitCallResult.Failure);
        using var late = telemetry.Track(Breaker("late"));
        states.RecordObservableInstruments();
        permits.RecordObservableInstruments();
        balances.RecordObservableInstruments();

        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Empty(transitions.GetMeasurementSnapshot());
        Assert.DoesNotContain(_logs.Collector.GetSnapshot(), record => record.Message.Contains("payments", StringComparison.Ordinal));
        Assert.Equal((0, 0, 0), (states.GetMeasurementSnapshot().Count, permits.GetMeasurementSnapshot().Count, balances.GetMeasurementSnapshot().Count));
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        public List<Meter> Created { get; } = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            Created.Add(meter);
            return meter;
        }

        public void Dispose() => Created.ForEach(meter => meter.Dispose());
    }
}
