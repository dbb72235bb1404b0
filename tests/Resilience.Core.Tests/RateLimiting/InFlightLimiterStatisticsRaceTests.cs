using Resilience.Tests.Linearizability;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// A statistics read racing an acquisition and then a raised limit: it sees the limiter before the acquisition, between
/// the two, or after both, never the permits in use of one moment against the limit of another.
/// </summary>
public class InFlightLimiterStatisticsRaceTests
{
    [Fact]
    public void Available_permits_are_those_of_one_moment()
    {
        // A limit of 2: one thread takes 2 permits and then raises the limit to 4, the other reads the available permits:
        // 2 before the acquisition, 0 between, 2 after the change; 4 would be no permits in use under the raised limit.
        const int Iterations = 1_000_000;
        var initial = new InFlightLimiterOptions { PermitLimit = 2 };
        var raised = new InFlightLimiterOptions { PermitLimit = 4 };
        InFlightLimiter limiter = null!;
        var available = new long[Iterations];
        var wrong = LockstepRace.Run(
            Iterations,
            spread: 16,
            firstSpread: 16,
            setUp: _ => Volatile.Write(ref limiter, new InFlightLimiter(initial)),
            first: i => available[i] = limiter.GetStatistics()!.CurrentAvailablePermits,
            second: _ =>
            {
                var current = Volatile.Read(ref limiter);
                current.AttemptAcquire(2);
                current.UpdateOptions(raised);
            },
            check: i => available[i] is 0 or 2 ? null : $"{available[i]} available");

        Assert.Empty(wrong);
    }
}
