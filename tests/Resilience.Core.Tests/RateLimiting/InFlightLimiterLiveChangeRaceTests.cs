using Resilience.Tests.Linearizability;

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
        var granted = new bool[Iterations];
        var mine = new bool[Iterations];
        var wrong = LockstepRace.Run(
            Iterations,
            spread: 32,
            firstSpread: 16,
            setUp: _ => Volatile.Write(ref limiter, new InFlightLimiter(initial)),
            first: i =>
            {
                limiter.UpdateOptions(lowered);
                mine[i] = limiter.AttemptAcquire(1).IsAcquired;
            },
            second: i => granted[i] = Volatile.Read(ref limiter).AttemptAcquire(2).IsAcquired,
            check: i => mine[i] && granted[i] ? "both granted, 3 permits under a limit of 2" : null);

        Assert.Empty(wrong);
    }

    [Fact]
    public void An_acquisition_granted_at_a_limit_lowered_before_a_statistics_read_is_seen_by_that_read()
    {
        // A limit of 5 with 1 permit held, lowered to 2; one thread asks for 2 permits, the other lowers the limit and
        // then reads the available permits. Granted, the acquisition came before the change (2 + 1 pass the new limit),
        // so the read after the change sees 3 in use: 0 available. 1 available is the new limit against the permits of
        // a moment before an acquisition that the old limit admitted after the change.
        const int Iterations = 1_000_000;
        var initial = new InFlightLimiterOptions { PermitLimit = 5 };
        var lowered = new InFlightLimiterOptions { PermitLimit = 2 };
        InFlightLimiter limiter = null!;
        var granted = new bool[Iterations];
        var available = new long[Iterations];
        var wrong = LockstepRace.Run(
            Iterations,
            spread: 32,
            firstSpread: 16,
            setUp: _ =>
            {
                var fresh = new InFlightLimiter(initial);
                fresh.AttemptAcquire(1);
                Volatile.Write(ref limiter, fresh);
            },
            first: i =>
            {
                limiter.UpdateOptions(lowered);
                available[i] = limiter.GetStatistics()!.CurrentAvailablePermits;
            },
            second: i => granted[i] = Volatile.Read(ref limiter).AttemptAcquire(2).IsAcquired,
            check: i => granted[i] && available[i] != 0 ? $"granted, yet {available[i]} available after the change" : null);

        Assert.Empty(wrong);
    }
}
