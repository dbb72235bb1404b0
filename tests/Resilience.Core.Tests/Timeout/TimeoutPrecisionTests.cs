using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

public class TimeoutPrecisionTests
{
    private readonly FakeTimeProvider _time = new();

    private static async ValueTask<int> WaitForCancellation(int value, CancellationToken token)
    {
        await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, token);
        return value;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_timeout_with_a_fraction_of_a_millisecond_never_cancels_before_it_has_passed(bool callerToken)
    {
        // A call with a caller token re-armed its pooled source with CancelAfter, which drops the fraction of a
        // millisecond: a 3.5 ms timeout cancelled the call at 3 ms.
        var timeout = TimeSpan.FromTicks(35_000);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = _time }
            .AddTimeout(new TimeoutOptions { Timeout = timeout, TimeProvider = _time })
            .Build();
        using var caller = new CancellationTokenSource();
        var start = _time.GetUtcNow();
        DateTimeOffset? cancelledAt = null;

        // The registration runs as the token is cancelled, inside the clock's advance: when the timeout fired.
        var call = pipeline.ExecuteOutcomeAsync(
            (v, ct) =>
            {
                ct.Register(() => cancelledAt = _time.GetUtcNow());
                return WaitForCancellation(v, ct);
            },
            1,
            callerToken ? caller.Token : CancellationToken.None).AsTask();
        _time.Advance(timeout - TimeSpan.FromTicks(1));
        Assert.Null(cancelledAt);
        _time.Advance((timeout / 16) + TimeSpan.FromTicks(1));

        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(timeout, Assert.IsType<TimeoutRejectedException>(outcome.Exception).Timeout);
        Assert.InRange(cancelledAt!.Value - start, timeout, timeout + (timeout / 16));
    }

    [Fact]
    public async Task Sequential_calls_with_a_caller_token_on_the_system_clock_reuse_one_pooled_source()
    {
        // Only the runtime's own timers can be reset: the pool serves the system clock.
        var strategy = new TimeoutStrategy(new TimeoutOptions { Timeout = TimeSpan.FromMinutes(1) });
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(strategy).Build();
        using var caller = new CancellationTokenSource();
        var tokens = new HashSet<CancellationToken>();

        for (var i = 0; i < 20; i++)
        {
            await pipeline.ExecuteAsync(
                (_, ct) =>
                {
                    tokens.Add(ct);
                    return ValueTask.FromResult(0);
                },
                0,
                caller.Token);
        }

        Assert.Single(tokens);
    }
}
