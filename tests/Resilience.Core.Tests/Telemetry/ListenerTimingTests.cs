using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Listeners that attach or detach between calls or while one is in flight (docs/telemetry.md, "Listeners that come and
/// go"): a call is counted as it ends, when it started while its count or duration was listened to; timed when its
/// duration was listened to both as it started and as it ends; each event inside it reaches whoever listens at that moment.
/// </summary>
public sealed class ListenerTimingTests : IDisposable
{
    private const string CallsName = "resilience.pipeline.calls";
    private const string DurationName = "resilience.pipeline.duration";
    private readonly ResilienceTelemetry _telemetry = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _telemetry.Dispose();

    [Fact]
    public void Calls_made_between_attaching_and_detaching_a_listener_are_counted_by_it_and_no_others()
    {
        var pipeline = Pipeline();

        Assert.Equal(1, pipeline.Execute(static _ => 1));
        var first = new MetricCollector<long>(_telemetry.Meter, CallsName);
        Assert.Equal(2, pipeline.Execute(static _ => 2));
        Assert.Equal(3, pipeline.Execute(static _ => 3));
        Assert.Equal(2, first.GetMeasurementSnapshot().Sum(m => m.Value));
        first.Dispose();
        Assert.Equal(4, pipeline.Execute(static _ => 4));
        using var second = new MetricCollector<long>(_telemetry.Meter, CallsName);
        Assert.Equal(5, pipeline.Execute(static _ => 5));

        Assert.Equal(1, second.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task A_call_that_started_unobserved_is_not_counted_but_the_events_inside_it_after_a_listener_attached_are()
    {
        var pipeline = Pipeline();
        var firstAttempt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = 0;
        var call = pipeline.ExecuteAsync(async _ =>
        {
            if (++attempts == 1)
            {
                await firstAttempt.Task;
                throw new IOException("first");
            }

            return attempts;
        }).AsTask();

        using var calls = new MetricCollector<long>(_telemetry.Meter, CallsName);
        using var durations = new MetricCollector<double>(_telemetry.Meter, DurationName);
        using var retries = new MetricCollector<long>(_telemetry.Meter, "resilience.retry.attempts");
        firstAttempt.SetResult();

        Assert.Equal(2, await call);
        Assert.Empty(calls.GetMeasurementSnapshot());
        Assert.Empty(durations.GetMeasurementSnapshot());
        Assert.Equal("retry", Assert.Single(retries.GetMeasurementSnapshot()).Tags["strategy"]);
    }

    [Fact]
    public async Task A_call_that_started_observed_is_counted_once_by_the_listener_present_as_it_ends()
    {
        var pipeline = Pipeline();
        var (unobserved, completeUnobserved) = Pending(pipeline);
        var leaving = new MetricCollector<long>(_telemetry.Meter, CallsName);
        var (observed, completeObserved) = Pending(pipeline);
        leaving.Dispose();
        using var arriving = new MetricCollector<long>(_telemetry.Meter, CallsName);
        completeUnobserved();
        completeObserved();
        Assert.Equal(1, await unobserved);
        Assert.Equal(1, await observed);

        // The call started while the first listener was attached ends under the one that arrived, and is counted
        // once; the one started unobserved is counted by nobody.
        var measurement = Assert.Single(arriving.GetMeasurementSnapshot());
        Assert.Equal(("success", 1L), (measurement.Tags["outcome"], measurement.Value));
    }

    [Fact]
    public async Task A_call_is_timed_only_when_its_duration_was_listened_to_as_it_started_and_as_it_ended()
    {
        var pipeline = Pipeline();

        // Its duration listened to as it starts, its count only from the middle: counted and timed.
        using (var durations = new MetricCollector<double>(_telemetry.Meter, DurationName))
        {
            var (call, complete) = Pending(pipeline);
            using var calls = new MetricCollector<long>(_telemetry.Meter, CallsName);
            _time.Advance(TimeSpan.FromSeconds(2));
            complete();
            Assert.Equal(1, await call);
            Assert.Equal(1, Assert.Single(calls.GetMeasurementSnapshot()).Value);
            Assert.Equal(2d, Assert.Single(durations.GetMeasurementSnapshot()).Value);
        }

        // Its count listened to as it starts, its duration only from the middle: counted, not timed (its start was
        // never read).
        using (var calls = new MetricCollector<long>(_telemetry.Meter, CallsName))
        {
            var (call, complete) = Pending(pipeline);
            using var durations = new MetricCollector<double>(_telemetry.Meter, DurationName);
            _time.Advance(TimeSpan.FromSeconds(2));
            complete();
            Assert.Equal(1, await call);
            Assert.Equal(1, Assert.Single(calls.GetMeasurementSnapshot()).Value);
            Assert.Empty(durations.GetMeasurementSnapshot());
        }
    }

    /// <summary>Starts a call that waits until the returned action is called, then returns 1.</summary>
    private static (Task<int> Call, Action Complete) Pending(ResiliencePipeline pipeline)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var call = pipeline.ExecuteAsync(async _ =>
        {
            await gate.Task;
            return 1;
        }).AsTask();
        Assert.False(call.IsCompleted);
        return (call, gate.SetResult);
    }

    private ResiliencePipeline Pipeline() => new ResiliencePipelineBuilder { Name = "orders", TimeProvider = _time }
        .AddTelemetry(_telemetry)
        .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, static e => e is IOException)
        .Build();
}
