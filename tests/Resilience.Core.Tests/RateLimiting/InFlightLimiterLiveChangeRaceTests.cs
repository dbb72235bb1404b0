namespace Resilience.Tests.RateLimiting;

/// <summary>
/// An acquisition racing a lowered limit: it takes effect before the change (at the old limit) or after it (at the new
/// one), never at the old limit after a call admitted under the new one.
/// </summary>
public class InFlightLimiterLiveChangeRaceTests
{
    [Fact]
    public void An_acquisition_racing_a_lowered_limit_never_joins_a_call_admitted_under_it_beyond_it()
    {
        // A limit of 4 lowered to 2; one thread asks for 2 permits, the other lowers the limit and then asks for 1. In any
        // order at most one of them is granted: before the change 2 + 1 pass the new limit, after it 2 + 1 do too.
        const int Iterations = 1_000_000;
        var initial = new InFlightLimiterOptions { PermitLimit = 4 };
        InFlightLimiter limiter = null!;
        var lowered = new InFlightLimiterOptions { PermitLimit = 2 };
        var started = -1;
        var done = -1;
        var granted = new bool[Iterations];
        var other = new Thread(() =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                var spin = default(SpinWait);
                while (Volatile.Read(ref started) != i)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Thread.SpinWait(i % 32);
                granted[i] = Volatile.Read(ref limiter).AttemptAcquire(2).IsAcquired;
                Volatile.Write(ref done, i);
            }
        }) { IsBackground = true };
        other.Start();

        var wrong = new List<string>();
        for (var i = 0; i < Iterations; i++)
        {
            var current = new InFlightLimiter(initial);
            Volatile.Write(ref limiter, current);
            Volatile.Write(ref started, i);
            Thread.SpinWait((i / 32) % 16);
            current.UpdateOptions(lowered);
            var mine = current.AttemptAcquire(1).IsAcquired;
            var spin = default(SpinWait);
            while (Volatile.Read(ref done) != i)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                Assert.True(other.IsAlive || Volatile.Read(ref done) == i, "the other thread stopped");
            }

            if (mine && granted[i])
            {
                wrong.Add($"iteration {i}: both granted, 3 permits under a limit of 2");
            }
        }

        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        Assert.Empty(wrong);
    }
}
