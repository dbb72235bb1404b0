namespace Resilience.Tests.DependencyInjection;

/// <summary>Calls in flight when the container is disposed, and calls made after: each ends, none hangs.</summary>
public class ProviderDisposalTests
{
    private const string Orders = "Resilience:Pipelines:orders:";

    [Fact]
    public async Task A_call_in_flight_when_the_container_is_disposed_is_still_timed_out()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            [Orders + "Strategies:0"] = "Timeout",
            [Orders + "Timeout:Timeout"] = "00:00:01",
        });
        var pipeline = container.Provider.GetPipeline("orders");
        using var caller = new CancellationTokenSource();
        var call = pipeline.ExecuteAsync(static async token => await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token), caller.Token).AsTask();
        Assert.False(call.IsCompleted);

        container.Dispose();
        container.Time.Advance(TimeSpan.FromSeconds(1));

        var timedOut = await Assert.ThrowsAsync<TimeoutRejectedException>(() => call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(TimeSpan.FromSeconds(1), timedOut.Timeout);
    }

    [Fact]
    public async Task Calls_made_after_the_container_is_disposed_are_answered_at_once_by_its_limiters()
    {
        var container = new TestContainer(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:queued:Strategies:0"] = "ConcurrencyLimiter",
            ["Resilience:Pipelines:queued:ConcurrencyLimiter:PermitLimit"] = "1",
            ["Resilience:Pipelines:queued:ConcurrencyLimiter:QueueLimit"] = "5",
            ["Resilience:Pipelines:metered:Strategies:0"] = "TokenBucket",
            ["Resilience:Pipelines:metered:TokenBucket:Burst"] = "1",
            ["Resilience:Pipelines:metered:TokenBucket:PermitsPerSecond"] = "0.01",
            ["Resilience:Pipelines:metered:TokenBucket:MaxWait"] = "00:10:00",
        });
        var queued = container.Provider.GetPipeline("queued");
        var metered = container.Provider.GetPipeline("metered");
        var limiter = (InFlightLimiter)((RateLimiterStrategy)queued.Strategies[1]).Limiter;
        using var held = limiter.AttemptAcquire();
        Assert.True((await metered.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromResult(0), 0)).IsSuccess);

        container.Dispose();

        // No permit is free: a waiter would queue on a limiter nothing serves any more. Both limiters refuse, as they
        // refuse the waiters disposal fails.
        var afterQueued = await queued.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromResult(0), 0).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        var afterMetered = await metered.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromResult(0), 0).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(afterQueued.IsRejected, afterQueued.Exception?.ToString());
        Assert.True(afterMetered.IsRejected);
    }
}
