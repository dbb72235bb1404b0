using System.Threading.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Linearizability;

/// <summary>
/// Real threads acquire, read statistics and change the options of one token bucket together, time fixed within a
/// round; every round's history must be linearizable against <see cref="TokenBucketModel"/>, each round starting from
/// the states the previous one may have ended in.
/// </summary>
public class TokenBucketLinearizabilityTests
{
    private const int Threads = 3;
    private const int OperationsPerThread = 6;
    private const int Rounds = 1500;

    // Two shapes between which a change can keep the arrival where it was (2 of 4 permits at 100/s are 2 of 3 at 50/s,
    // with the same arrival), and a third that moves it.
    private static readonly TokenBucketLimiterOptions[] Shapes =
    [
        new() { PermitsPerSecond = 100, Burst = 4 },
        new() { PermitsPerSecond = 50, Burst = 3 },
        new() { PermitsPerSecond = 400, Burst = 8 },
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Acquisitions_statistics_and_live_changes_are_linearizable(int seed)
    {
        var time = new FakeTimeProvider();
        var start = time.GetUtcNow();
        var bucket = new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = Shapes[0].PermitsPerSecond, Burst = Shapes[0].Burst, TimeProvider = time });
        var model = new TokenBucketModel(Shapes);
        var checker = new LinearizabilityChecker<BucketState, BucketCall, BucketAnswer>(model);
        var recorder = new HistoryRecorder<BucketCall, BucketAnswer>(Threads);
        var random = new Random(seed);
        var scripts = Enumerable.Range(0, Threads).Select(thread => new Random((seed * 7919) + thread)).ToArray();
        IReadOnlySet<BucketState> states = new HashSet<BucketState> { new(0, 0) };
        long granted = 0, refused = 0;

        RealThreadRounds.Run(
            Threads,
            Rounds,
            (thread, _) =>
            {
                var script = scripts[thread];
                for (var i = 0; i < OperationsPerThread; i++)
                {
                    var call = NextCall(thread, script);
                    recorder.Record(thread, call, () => Run(bucket, call));
                }
            },
            round =>
            {
                var history = recorder.Take();
                model.Now = (time.GetUtcNow() - start).Ticks * 256;
                var finals = checker.FinalStates(states.Select(state => TokenBucketModel.Normalized(state, model.Now)), history);
                Assert.True(finals.Count > 0, $"round {round} is not linearizable from {string.Join(", ", states)} at {model.Now}:\n{string.Join("\n", history)}");
                states = finals;

                // The totals are not part of the checked operations (a statistics read is not one atomic snapshot of
                // every figure), but once the threads are quiet they must count every answer.
                granted += history.Count(operation => operation.Call.Kind == BucketCallKind.Acquire && operation.Answer.Granted);
                refused += history.Count(operation => operation.Call.Kind == BucketCallKind.Acquire && !operation.Answer.Granted);
                var statistics = bucket.GetStatistics()!;
                Assert.Equal(granted, statistics.TotalSuccessfulLeases);
                Assert.Equal(refused, statistics.TotalFailedLeases);

                // Time moves only between rounds, often by whole permits so that changes meet buckets holding whole permits.
                time.Advance(random.Next(4) switch
                {
                    0 => TimeSpan.Zero,
                    1 => TimeSpan.FromMilliseconds(5 * random.Next(1, 5)),
                    2 => TimeSpan.FromTicks(random.Next(1, 200_000)),
                    _ => TimeSpan.FromMilliseconds(random.Next(0, 40)),
                });
            });
    }

    private static BucketCall NextCall(int thread, Random script)
    {
        var pick = script.Next(8);
        return thread == Threads - 1 && pick < 3 ? new BucketCall(BucketCallKind.Update, script.Next(Shapes.Length))
            : pick < 2 ? new BucketCall(BucketCallKind.Statistics, 0)
            : new BucketCall(BucketCallKind.Acquire, pick < 6 ? 1 : 2);
    }

    private static BucketAnswer Run(TokenBucketLimiter bucket, BucketCall call)
    {
        switch (call.Kind)
        {
            case BucketCallKind.Acquire:
                using (var lease = bucket.AttemptAcquire(call.Value))
                {
                    return lease.IsAcquired ? new BucketAnswer(true, 0)
                        : new BucketAnswer(false, lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter.Ticks : -1);
                }

            case BucketCallKind.Statistics:
                return new BucketAnswer(true, bucket.GetStatistics()!.CurrentAvailablePermits);

            default:
                var shape = Shapes[call.Value];
                bucket.UpdateOptions(new TokenBucketLimiterOptions { PermitsPerSecond = shape.PermitsPerSecond, Burst = shape.Burst, TimeProvider = shape.TimeProvider });
                return new BucketAnswer(true, 0);
        }
    }
}
