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
        var started = -1;
        var done = -1;
        var other = new Thread(() =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                var spin = default(SpinWait);
                while (Volatile.Read(ref started) != i)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                var current = Volatile.Read(ref limiter);
                Thread.SpinWait(i % 16);
                current.AttemptAcquire(2);
                current.UpdateOptions(raised);
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
            Thread.SpinWait((i / 16) % 16);
            var available = current.GetStatistics()!.CurrentAvailablePermits;
            var spin = default(SpinWait);
            while (Volatile.Read(ref done) != i)
            {
                spin.SpinOnce(sleep1Threshold: -1);
                Assert.True(other.IsAlive || Volatile.Read(ref done) == i, "the other thread stopped");
            }

            if (available is not (0 or 2))
            {
                wrong.Add($"iteration {i}: {available} available");
            }
        }

        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        Assert.Empty(wrong);
    }
}
