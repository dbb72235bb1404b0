using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

// Activity listeners are process-wide: the tests that add them to the Resilience source run one at a time.
[Collection(ActivityListenerCollection.Name)]
public sealed class ActivityEventTests : IDisposable
{
    private readonly ResilienceTelemetry _telemetry = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _telemetry.Dispose();

    [Fact]
    public void Every_documented_event_is_added_with_exactly_its_documented_tags()
    {
        using var listener = Listen(ResilienceTelemetry.ActivitySourceName, "activity-event-tests");
        using var source = new ActivitySource("activity-event-tests");
        var pipeline = GuardedPipeline(out var tracked);
        using var registration = tracked;

        using var activity = source.StartActivity("request")!;

        // The first attempt outlasts its timeout: the timeout fails it, the breaker opens, the retry meets it open.
        Assert.Equal(-1, pipeline.Execute(ct =>
        {
            _time.Advance(TimeSpan.FromSeconds(2));
            ct.ThrowIfCancellationRequested();
            return 0;
        }));

        var documented = DocumentedInstrument.ReadEvents();
        Assert.Equal(
            ["resilience.timeout", "resilience.circuit_breaker.transition", "resilience.retry", "resilience.rejection", "resilience.fallback"],
            activity.Events.Select(e => e.Name));
        // Every documented event but the budget's refusal, which has a scenario of its own below.
        Assert.Equal(documented.Keys.Where(name => name != "resilience.retry.budget_refused").Order(), activity.Events.Select(e => e.Name).Distinct().Order());
        Assert.All(activity.Events, e => Assert.Equal(documented[e.Name].Order(), e.Tags.Select(tag => tag.Key).Order()));
        var rejection = activity.Events.Single(e => e.Name == "resilience.rejection").Tags.ToDictionary(tag => tag.Key, tag => tag.Value);
        Assert.Equal(("orders", "ledger", "broken_circuit", 30d), (rejection["pipeline"], rejection["strategy"], rejection["reason"], rejection["retry_after"]));
        var timeout = activity.Events.Single(e => e.Name == "resilience.timeout").Tags.ToDictionary(tag => tag.Key, tag => tag.Value);
        Assert.Equal(("orders", "attempt-timeout", 1d), (timeout["pipeline"], timeout["strategy"], timeout["timeout"]));
    }

    [Fact]
    public void No_event_is_added_while_the_source_is_not_listened_to_or_the_activity_records_no_data()
    {
        using var listener = Listen("activity-event-tests");
        using var source = new ActivitySource("activity-event-tests");
        var pipeline = GuardedPipeline(out var tracked);
        using var registration = tracked;

        using (var activity = source.StartActivity("request")!)
        {
            Assert.Equal(-1, pipeline.Execute(static _ => throw new IOException("down")));
            Assert.Empty(activity.Events);
        }

        using var ours = Listen(ResilienceTelemetry.ActivitySourceName);
        using var propagated = new ActivityListener
        {
            ShouldListenTo = candidate => candidate.Name == "activity-event-tests-propagated",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
        };
        ActivitySource.AddActivityListener(propagated);
        using var propagatedSource = new ActivitySource("activity-event-tests-propagated");
        using var unrecorded = propagatedSource.StartActivity("request")!;
        Assert.False(unrecorded.IsAllDataRequested);
        Assert.Equal(-1, GuardedPipeline(out var other).Execute(static _ => throw new IOException("down")));
        other.Dispose();
        Assert.Empty(unrecorded.Events);
    }

    [Fact]
    public void A_retry_its_budget_refuses_adds_one_event_with_its_documented_tags()
    {
        using var listener = Listen(ResilienceTelemetry.ActivitySourceName, "activity-event-tests");
        using var source = new ActivitySource("activity-event-tests");

        // Two tokens: the first failure leaves one, which is not above half, so its retry is refused.
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddRetry(
                new RetryOptions { Name = "retry", MaxRetryAttempts = 3, Delay = TimeSpan.Zero, Budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2 }) },
                static outcome => outcome.Exception is IOException)
            .Build();

        using var activity = source.StartActivity("request")!;
        Assert.IsType<IOException>(pipeline.ExecuteOutcome(static (_, _) => throw new IOException("down"), 0).Exception);

        var refused = Assert.Single(activity.Events);
        Assert.Equal("resilience.retry.budget_refused", refused.Name);
        Assert.Equal(DocumentedInstrument.ReadEvents()[refused.Name].Order(), refused.Tags.Select(tag => tag.Key).Order());
        Assert.Equal(("orders", "retry"), (refused.Tags.Single(t => t.Key == "pipeline").Value, refused.Tags.Single(t => t.Key == "strategy").Value));
    }

    private static ActivityListener Listen(params string[] sources)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => sources.Contains(source.Name),
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }

    // Fallback, retry, breaker, timeout: a failure opens the breaker, the retry meets it open, the fallback serves -1.
    private ResiliencePipeline<int> GuardedPipeline(out IDisposable tracked)
    {
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            Name = "ledger",
            MinimumThroughput = 1,
            BreakDuration = TimeSpan.FromSeconds(30),
            TimeProvider = _time,
        });
        tracked = _telemetry.Track(breaker);
        return new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromValue("default", -1) } })
            .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 1, Delay = TimeSpan.Zero, UseJitter = false }, static outcome => outcome.Exception is IOException or TimeoutRejectedException)
            .AddCircuitBreaker(breaker)
            .AddTimeout(new TimeoutOptions { Name = "attempt-timeout", Timeout = TimeSpan.FromSeconds(1) })
            .Build();
    }
}
