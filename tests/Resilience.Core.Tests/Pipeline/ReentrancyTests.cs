using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Pipeline;

/// <summary>A pipeline called again from inside its own call: through the same limiter, breaker, timeout and retry budget.</summary>
public class ReentrancyTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_call_nested_in_the_callback_and_in_a_fallback_level_is_a_call_of_its_own(bool outerSynchronous)
    {
        var time = new FakeTimeProvider();
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 3, TimeProvider = time });
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.5 });
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 100, TimeProvider = time });
        ResiliencePipeline<string> pipeline = null!;
        pipeline = new ResiliencePipelineBuilder<string> { TimeProvider = time }
            .AddFallback(new FallbackOptions<string>
            {
                Levels = { FallbackLevel<string>.FromFactory("nested", a => "fallback+" + pipeline.Execute(static (s, _) => s, "level-call")) },
            })
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.Zero, Budget = budget })
            .AddTimeout(TimeSpan.FromSeconds(10))
            .AddRateLimiter(limiter)
            .AddCircuitBreaker(breaker)
            .Build();
        var permitsSeen = new List<long>();

        // Inner call: fails once, then succeeds on its retry. Outer call: fails twice (the fallback serves).
        string Inner(CancellationToken token)
        {
            var attempts = 0;
            return pipeline.Execute(
                (_, innerToken) =>
                {
                    permitsSeen.Add(limiter.GetStatistics()!.CurrentAvailablePermits);
                    return ++attempts < 2 ? throw new IOException("inner") : $"inner:{innerToken.CanBeCanceled}";
                },
                0,
                token);
        }

        var inners = new List<string>();
        var result = outerSynchronous
            ? pipeline.Execute(token =>
            {
                inners.Add(Inner(token));
                throw new IOException("outer");
            })
            : await pipeline.ExecuteAsync(async token =>
            {
                await Task.Yield();
                inners.Add(Inner(token));
                throw new IOException("outer");
            });

        Assert.Equal("fallback+level-call", result);
        Assert.Equal(["inner:True", "inner:True"], inners);

        // Each nested attempt holds one permit more than the outer attempt around it; every permit is back.
        Assert.Equal([1L, 1L, 1L, 1L], permitsSeen);
        Assert.Equal(3L, limiter.GetStatistics()!.CurrentAvailablePermits);

        // Every failed attempt took one token and every success gave half of one back, once each: 2 inner and 2 outer
        // failures; 2 inner successes and the level's call.
        Assert.Equal(10 - 4 + (3 * 0.5), budget.Balance);
        Assert.Equal(CircuitState.Closed, breaker.State);
        Assert.Equal((7L, 4L), (breaker.GetSnapshot().Calls, breaker.GetSnapshot().Failures));
    }
}
