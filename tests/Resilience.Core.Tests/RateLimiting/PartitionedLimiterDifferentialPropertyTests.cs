using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Random single-threaded scripts over three keys, run against the BCL's <see cref="PartitionedRateLimiter.Create{TResource, TPartitionKey}"/>
/// and against <see cref="BoundedPartitionedLimiter{TKey}"/>, each partition the same kind of limiter with the same
/// options on both sides: whatever a caller can tell apart (leases, exceptions and where they are thrown, waiters,
/// statistics per key) comes from the partitioning itself. The cap is above the keys used, so nothing is evicted.
/// </summary>
public class PartitionedLimiterDifferentialPropertyTests
{
    private const string Seed = "(1732050807,2236067977)";
    private const int Keys = 3;

    private static Arbitrary<(int PermitLimit, int QueueLimit, bool NewestFirst, int[] Steps)> Scripts =>
        (from permitLimit in Gen.Choose(1, 4)
         from queueLimit in Gen.Choose(0, 5)
         from newestFirst in Gen.Elements(false, true)
         from steps in DifferentialScript.Steps
         select (permitLimit, queueLimit, newestFirst, steps)).ToArbitrary();

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Partitions_of_the_bcl_concurrency_limiter_behave_as_under_the_bcl_partitioned_limiter() =>
        Prop.ForAll(Scripts, script => Run(script.PermitLimit, $"ConcurrencyLimiter, queue {script.QueueLimit}", () => new ConcurrencyLimiter(new ConcurrencyLimiterOptions
        {
            PermitLimit = script.PermitLimit,
            QueueLimit = script.QueueLimit,
            QueueProcessingOrder = script.NewestFirst ? QueueProcessingOrder.NewestFirst : QueueProcessingOrder.OldestFirst,
        }), script.Steps));

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Partitions_of_our_concurrency_limiter_behave_as_under_the_bcl_partitioned_limiter() =>
        Prop.ForAll(Scripts, script => Run(script.PermitLimit, $"InFlightLimiter, queue {script.QueueLimit}", () => new InFlightLimiter(new InFlightLimiterOptions
        {
            PermitLimit = script.PermitLimit,
            QueueLimit = script.QueueLimit,
            QueueProcessingOrder = script.NewestFirst ? QueueProcessingOrder.NewestFirst : QueueProcessingOrder.OldestFirst,
            TimeProvider = new FakeTimeProvider(),
        }), script.Steps));

    [Property(MaxTest = 300, Replay = Seed)]
    public Property Partitions_of_our_token_bucket_behave_as_under_the_bcl_partitioned_limiter() =>
        Prop.ForAll(Scripts, script => Run(script.PermitLimit, $"TokenBucketLimiter, wait {script.QueueLimit} s", () => new TokenBucketLimiter(new TokenBucketLimiterOptions
        {
            PermitsPerSecond = 1,
            Burst = script.PermitLimit,
            MaxWait = TimeSpan.FromSeconds(script.QueueLimit),

            // A stopped clock: nothing refills, so both sides see the same bucket whenever they read it.
            TimeProvider = new FakeTimeProvider(),
        }), script.Steps));

    private static Property Run(int permitLimit, string setup, Func<RateLimiter> partition, int[] steps)
    {
        var bcl = ScriptedLimiter.Of(PartitionedRateLimiter.Create<int, int>(key => RateLimitPartition.Get(key, _ => partition())), Keys);
        var ours = ScriptedLimiter.Of(new BoundedPartitionedLimiter<int>(_ => partition(), maxPartitions: 16), Keys);
        return new DifferentialScript(bcl, ours, permitLimit, $"{Keys} keys, limit {permitLimit}, {setup}").Play(steps);
    }
}
