using System.Runtime.CompilerServices;
using System.Threading.RateLimiting;

namespace Resilience.Tests.Pooling;

/// <summary>
/// What outlives a call (a timeout's shared slot and its timer, a pooled source, a limiter's queue) must not keep the
/// call's ambient values alive: an <see cref="AsyncLocal{T}"/> value of a finished call becomes garbage.
/// </summary>
public class AmbientLifetimeTests
{
    private static readonly AsyncLocal<object?> Ambient = new();

    [Fact]
    public void The_check_sees_a_value_a_timer_keeps_alive()
    {
        // A timer of the system clock flows the context it was created in: the payload lives as long as the timer.
        var holder = new ITimer?[1];
        var payload = ArmTimerHolding(holder);
        Assert.False(Collected(payload));
        DisposeTimer(holder);
        Assert.True(Collected(payload));
    }

    [Fact]
    public async Task A_shared_timeout_slot_does_not_keep_the_first_callers_ambient_values_alive()
    {
        // The slot's source outlives the call by its timeout (an hour here): its timer must not hold the caller's flow.
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromHours(1)).Build();
        var payload = await RunHolding(pipeline, CancellationToken.None);
        Assert.True(Collected(payload));
    }

    [Fact]
    public async Task A_pooled_timeout_source_does_not_keep_its_last_callers_ambient_values_alive()
    {
        using var caller = new CancellationTokenSource();
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(TimeSpan.FromHours(1)).Build();
        var payload = await RunHolding(pipeline, caller.Token);
        Assert.True(Collected(payload));
    }

    [Fact]
    public async Task A_served_in_flight_waiter_does_not_keep_its_callers_ambient_values_alive()
    {
        using var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 1, QueueTimeout = TimeSpan.FromHours(1) });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(limiter).Build();
        using var held = await limiter.AcquireAsync(1);
        var waiting = RunHolding(pipeline, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        held.Dispose();
        var payload = await waiting.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(Collected(payload));
    }

    [Fact]
    public async Task A_served_token_bucket_waiter_does_not_keep_its_callers_ambient_values_alive()
    {
        using var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 100, Burst = 1, MaxWait = TimeSpan.FromSeconds(5) });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(bucket).Build();
        await pipeline.ExecuteAsync(static _ => ValueTask.CompletedTask);
        var payload = await RunHolding(pipeline, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(Collected(payload));
    }

    [Fact]
    public async Task A_partition_created_for_a_call_does_not_keep_that_callers_ambient_values_alive()
    {
        // The first call for a key creates its partition, which outlives the call: a limiter that arms a timer as it is
        // made (the BCL's token bucket replenishes itself by default) must not capture the flow of that call.
        // The factory still reads the caller's values (a tenant's settings, say): only their capture is suppressed.
        var factorySawTheCallersValue = false;
        using var perKey = new BoundedPartitionedLimiter<int>(_ =>
        {
            factorySawTheCallersValue = Ambient.Value is not null;
            return new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = 10,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = TimeSpan.FromHours(1),
            });
        });
        var pipeline = new ResiliencePipelineBuilder().AddRateLimiter(perKey, static () => 7).Build();
        var payload = await RunHolding(pipeline, CancellationToken.None);
        Assert.Equal(1, perKey.Count);
        Assert.True(factorySawTheCallersValue);
        Assert.True(Collected(payload));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> RunHolding(ResiliencePipeline pipeline, CancellationToken token)
    {
        var payload = SetPayload();
        await pipeline.ExecuteAsync(static async _ => await Task.Yield(), token);
        Ambient.Value = null;
        return payload;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference SetPayload()
    {
        var payload = new byte[1024];
        Ambient.Value = payload;
        return new WeakReference(payload);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference ArmTimerHolding(ITimer?[] holder)
    {
        try
        {
            var payload = SetPayload();
            holder[0] = TimeProvider.System.CreateTimer(static _ => { }, null, TimeSpan.FromHours(1), System.Threading.Timeout.InfiniteTimeSpan);
            return payload;
        }
        finally
        {
            Ambient.Value = null;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void DisposeTimer(ITimer?[] holder)
    {
        holder[0]!.Dispose();
        holder[0] = null;
    }

    private static bool Collected(WeakReference reference)
    {
        for (var attempt = 0; attempt < 10 && (attempt < 3 || reference.IsAlive); attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        return !reference.IsAlive;
    }
}
