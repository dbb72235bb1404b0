using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Exceptions;

/// <summary>
/// A user delegate that throws (a predicate, a key selector, a fallback level) surfaces as the call's outcome, as itself,
/// and leaves no strategy holding what the call took: a probe slot, a permit.
/// </summary>
public class ThrowingDelegateTests
{
    [Fact]
    public void A_predicate_that_throws_on_a_probe_frees_the_probe_slot_and_the_limiters_permit()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions
        {
            ConsecutiveFailures = 1,
            BreakDuration = TimeSpan.FromSeconds(5),
            PermittedProbes = 1,
            ProbeTimeout = TimeSpan.FromMinutes(10),
            TimeProvider = time,
        });
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, TimeProvider = time });
        var predicateFails = false;
        var predicateFailure = new InvalidOperationException("predicate");
        var pipeline = new ResiliencePipelineBuilder()
            .AddCircuitBreaker(breaker, exception => predicateFails ? throw predicateFailure : exception is IOException)
            .AddRateLimiter(limiter)
            .Build();
        Assert.Throws<IOException>(() => pipeline.Execute<int>(_ => throw new IOException()));
        Assert.Equal(CircuitState.Open, breaker.State);
        time.Advance(TimeSpan.FromSeconds(5));

        predicateFails = true;
        var surfaced = Assert.Throws<InvalidOperationException>(() => pipeline.Execute<int>(_ => throw new IOException()));
        predicateFails = false;

        Assert.Same(predicateFailure, surfaced);
        Assert.Equal(CircuitState.HalfOpen, breaker.State);
        Assert.Equal(1, limiter.GetStatistics()!.CurrentAvailablePermits);

        // The slot is free for another probe (not held until the probe timeout), and it closes the circuit.
        Assert.Equal(1, pipeline.Execute(_ => 1));
        Assert.Equal(CircuitState.Closed, breaker.State);
    }

    [Fact]
    public async Task A_key_selector_that_throws_surfaces_as_itself_and_takes_no_permit()
    {
        using var partitioned = new BoundedPartitionedLimiter<string>(_ => new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 1, QueueLimit = 0 }));
        var selectorFails = true;
        var selectorFailure = new KeyNotFoundException("no tenant");
        var pipeline = new ResiliencePipelineBuilder()
            .AddRateLimiter(partitioned, () => selectorFails ? throw selectorFailure : "tenant")
            .Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);
        var thrown = await Assert.ThrowsAsync<KeyNotFoundException>(async () => await pipeline.ExecuteAsync(_ => new ValueTask<int>(1)));
        selectorFails = false;

        Assert.Same(selectorFailure, outcome.Exception);
        Assert.Same(selectorFailure, thrown);
        Assert.Equal(1, pipeline.Execute(_ => 1));
        Assert.Equal(1, partitioned.GetStatistics("tenant")!.CurrentAvailablePermits);
    }

    [Fact]
    public void A_fallback_level_that_throws_surfaces_as_itself_carrying_the_failure_it_replaced()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", TimeProvider = time });
        breaker.Isolate();
        var levelFailure = new InvalidOperationException("level");
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "catalog" }
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromFactory("broken", _ => throw levelFailure) } })
            .AddCircuitBreaker(breaker, _ => true)
            .Build();

        var surfaced = Assert.Throws<InvalidOperationException>(() => pipeline.Execute(_ => 1));

        Assert.Same(levelFailure, surfaced);
        var replaced = Assert.IsType<IsolatedCircuitException>(surfaced.Data[FallbackStrategy<int>.OriginalFailureKey]);
        Assert.Equal(("catalog", "inventory"), (replaced.PipelineName, replaced.StrategyName));
    }
}
