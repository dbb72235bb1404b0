using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// <c>resilience.retry.budget_refusals</c> counts each retry a retry budget refused, once, under the pipeline and the
/// retry's name; a retry the budget allowed, or one that ended for another reason, is not counted.
/// </summary>
public sealed class RetryBudgetRefusalTelemetryTests : IDisposable
{
    private const string Refusals = "resilience.retry.budget_refusals";

    private readonly ResilienceTelemetry _telemetry = new();
    private readonly FakeTimeProvider _time = new();

    public void Dispose() => _telemetry.Dispose();

    [Fact]
    public async Task A_budget_drained_by_failures_refuses_retries_and_each_refusal_is_counted_once_with_its_tags()
    {
        // Listened to alone: the pipeline runs without its telemetry strategy, and the refusals are still counted.
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        using var retries = new MetricCollector<long>(_telemetry.Meter, "resilience.retry.attempts");

        // Retries are allowed while more than 2 of 4 tokens remain: the first failure (4 → 3) is retried, every later
        // one (3 → 2, 2 → 1, 1 → 0, then 0) is refused.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 4 });
        var pipeline = Pipeline(budget, maxRetryAttempts: 3);
        var invocations = 0;

        for (var call = 0; call < 4; call++)
        {
            var outcome = call % 2 == 0
                ? pipeline.ExecuteOutcome((_, _) => { invocations++; throw new IOException("down"); }, 0)
                : await pipeline.ExecuteOutcomeAsync((_, _) => { invocations++; return ValueTask.FromException<int>(new IOException("down")); }, 0);
            Assert.IsType<IOException>(outcome.Exception);
        }

        Assert.Equal(5, invocations);
        Assert.Equal(1, retries.GetMeasurementSnapshot().Sum(m => m.Value));
        var counted = refusals.GetMeasurementSnapshot();
        Assert.Equal(4, counted.Count);
        Assert.All(counted, m =>
        {
            Assert.Equal(1, m.Value);
            Assert.Equal(["pipeline", "strategy"], m.Tags.Keys.Order());
            Assert.Equal("orders", m.Tags["pipeline"]);
            Assert.Equal("retry", m.Tags["strategy"]);
        });
        Assert.Equal(
            DocumentedInstrument.ReadAll().Single(row => row.Name == Refusals).Tags.Order(),
            counted[0].Tags.Keys.Order());
    }

    [Fact]
    public void A_rejection_the_retry_would_retry_is_counted_when_the_budget_refuses_it()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 });
        using var held = limiter.AttemptAcquire();
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 3, Delay = TimeSpan.Zero, UseJitter = false, RetryRateLimited = true, Budget = Drained() })
            .AddRateLimiter(limiter, name: "limiter")
            .Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.True(outcome.IsRejected);
        var refusal = Assert.Single(refusals.GetMeasurementSnapshot());
        Assert.Equal(1, refusal.Value);
        Assert.Equal("retry", refusal.Tags["strategy"]);
    }

    [Fact]
    public async Task Nothing_is_counted_while_the_budget_allows_retries()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        using var retries = new MetricCollector<long>(_telemetry.Meter, "resilience.retry.attempts");
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 100 });
        var pipeline = Pipeline(budget, maxRetryAttempts: 3);
        var attempts = 0;

        var recovered = await pipeline.ExecuteOutcomeAsync((_, _) => ++attempts < 4 ? ValueTask.FromException<int>(new IOException("down")) : ValueTask.FromResult(attempts), 0);
        var succeeded = pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.Equal(4, recovered.Result);
        Assert.Equal(1, succeeded.Result);
        Assert.Equal(3, retries.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.True(budget.CanRetry);
        Assert.Empty(refusals.GetMeasurementSnapshot());
    }

    [Fact]
    public void Attempts_spent_as_the_budget_would_refuse_are_not_a_refusal()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);

        // 4 → 3 allows the one retry; its failure (3 → 2) would be refused, but the retries are spent anyway.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 4 });
        var attempts = 0;

        var outcome = Pipeline(budget, maxRetryAttempts: 1).ExecuteOutcome((_, _) => { attempts++; throw new IOException("down"); }, 0);

        Assert.IsType<IOException>(outcome.Exception);
        Assert.Equal(2, attempts);
        Assert.False(budget.CanRetry);
        Assert.Empty(refusals.GetMeasurementSnapshot());
    }

    [Fact]
    public void An_outcome_the_retry_does_not_handle_is_not_a_refusal()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        var budget = Drained();

        var outcome = Pipeline(budget, maxRetryAttempts: 3).ExecuteOutcome(static (_, _) => throw new InvalidOperationException("bug"), 0);

        Assert.IsType<InvalidOperationException>(outcome.Exception);
        Assert.False(budget.CanRetry);
        Assert.Empty(refusals.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task A_caller_cancellation_is_not_a_refusal()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        var pipeline = Pipeline(Drained(), maxRetryAttempts: 3);
        using var caller = new CancellationTokenSource();

        // The caller cancels while the attempt fails (a handled failure), then while it throws its cancellation.
        var failed = await pipeline.ExecuteOutcomeAsync(
            async (_, _) =>
            {
                await caller.CancelAsync();
                throw new IOException("down");
            },
            0,
            caller.Token);
        var cancelled = pipeline.ExecuteOutcome(static (_, ct) => { ct.ThrowIfCancellationRequested(); return 1; }, 0, caller.Token);

        Assert.IsType<IOException>(failed.Exception);
        Assert.IsAssignableFrom<OperationCanceledException>(cancelled.Exception);
        Assert.Empty(refusals.GetMeasurementSnapshot());
    }

    [Fact]
    public void A_retry_after_hint_past_its_maximum_ends_the_retries_without_a_refusal()
    {
        using var refusals = new MetricCollector<long>(_telemetry.Meter, Refusals);
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time, RetryAfterHint = static _ => TimeSpan.FromMinutes(5) }
            .AddTelemetry(_telemetry)
            .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = 3, MaxRetryAfter = TimeSpan.FromMinutes(1), Budget = Drained() }, static o => o.Exception is IOException)
            .Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => throw new IOException("overloaded"), 0);

        Assert.IsType<IOException>(outcome.Exception);
        Assert.Empty(refusals.GetMeasurementSnapshot());
    }

    /// <summary>A budget with no token left: it refuses every retry.</summary>
    private static RetryBudget Drained()
    {
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2 });
        budget.RecordFailure();
        budget.RecordFailure();
        return budget;
    }

    private ResiliencePipeline<int> Pipeline(RetryBudget budget, int maxRetryAttempts) =>
        new ResiliencePipelineBuilder<int> { Name = "orders", TimeProvider = _time }
            .AddTelemetry(_telemetry)
            .AddRetry(new RetryOptions { Name = "retry", MaxRetryAttempts = maxRetryAttempts, Delay = TimeSpan.Zero, UseJitter = false, Budget = budget }, static o => o.Exception is IOException)
            .Build();
}
