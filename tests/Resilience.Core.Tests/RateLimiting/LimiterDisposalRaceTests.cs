using System.Collections.Concurrent;
using System.Threading.RateLimiting;

namespace Resilience.Tests.RateLimiting;

/// <summary>Acquisitions on real threads racing the limiter's disposal: every one ends, and the statistics add up.</summary>
public class LimiterDisposalRaceTests
{
    private const int Rounds = 200;
    private const int Threads = 4;
    private const int AcquisitionsPerThread = 20;

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst)]
    [InlineData(QueueProcessingOrder.NewestFirst)]
    public async Task Concurrency_limiter_acquisitions_racing_disposal_all_end_and_no_permit_is_counted_twice(QueueProcessingOrder order)
    {
        for (var round = 0; round < Rounds; round++)
        {
            var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 3, QueueLimit = 50, QueueProcessingOrder = order });
            var answers = await RaceDisposalAsync(limiter, round);

            // Leases held across the disposal were released into the disposed limiter: every permit is back, once.
            var statistics = limiter.GetStatistics()!;
            Assert.Equal(
                (answers.Acquired, answers.Refused, 3L, 0L),
                (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases, statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
        }
    }

    [Fact]
    public async Task Token_bucket_acquisitions_racing_disposal_all_end_and_the_statistics_add_up()
    {
        for (var round = 0; round < Rounds; round++)
        {
            var limiter = new TokenBucketLimiter(new TokenBucketLimiterOptions { Burst = 3, PermitsPerSecond = 2_000, MaxWait = TimeSpan.FromSeconds(1) });
            var answers = await RaceDisposalAsync(limiter, round);

            var statistics = limiter.GetStatistics()!;
            Assert.Equal((answers.Acquired, answers.Refused, 0L), (statistics.TotalSuccessfulLeases, statistics.TotalFailedLeases, statistics.CurrentQueuedCount));
        }
    }

    /// <summary>
    /// Threads acquire one or two permits at a time (some waiting in the queue), holding every third lease until they are
    /// done, while the test disposes the limiter at a point that moves with the round. Returns the leases granted and
    /// refused; acquisitions the disposed limiter threw for are neither.
    /// </summary>
    private static async Task<(long Acquired, long Refused)> RaceDisposalAsync(RateLimiter limiter, int round)
    {
        using var start = new Barrier(Threads + 1);
        var answers = new ConcurrentBag<bool>();
        var threads = Enumerable.Range(0, Threads).Select(_ => Task.Factory.StartNew(
            async () =>
            {
                var held = new List<RateLimitLease>();
                start.SignalAndWait();
                for (var i = 0; i < AcquisitionsPerThread; i++)
                {
                    try
                    {
                        var lease = await limiter.AcquireAsync(1 + (i % 2));
                        answers.Add(lease.IsAcquired);
                        if (lease.IsAcquired && i % 3 == 0)
                        {
                            held.Add(lease);
                        }
                        else
                        {
                            lease.Dispose();
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        // Disposed before the call: thrown at the call, as the BCL's limiters do.
                    }

                    // Held leases go back one at a time, so waiters behind them are served while others arrive.
                    if (held.Count > 1)
                    {
                        held[0].Dispose();
                        held.RemoveAt(0);
                    }
                }

                held.ForEach(lease => lease.Dispose());
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap()).ToArray();

        start.SignalAndWait();
        Thread.SpinWait(round * 20);
        limiter.Dispose();

        // Every acquisition ends (a waiter the disposal failed gets a failed lease); a hang fails the round, bounded.
        var all = Task.WhenAll(threads);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30))));
        await all;
        return (answers.Count(acquired => acquired), answers.Count(acquired => !acquired));
    }
}
