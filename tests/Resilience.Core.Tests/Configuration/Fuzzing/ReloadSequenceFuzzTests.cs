using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// Random sequences of reloads, valid and not, with calls between them (failures that open the breaker, time passing,
/// token-bucket permits taken, concurrency permits held), against a model that keeps the last good settings: after every
/// reload the settings in force are the model's; a rejected reload is logged and counted as rejected and leaves the
/// breaker's state and window, the bucket's permits and the permits in flight exactly as they were; an applied one
/// changes the options and keeps that state (the window too, unless its shape changed; the bucket's permits capped at the
/// new burst), as docs/configuration.md promises.
/// </summary>
public class ReloadSequenceFuzzTests
{
    private const string Seed = "(314159265,2718281)";

    private static Arbitrary<int> Seeds => Gen.Choose(0, int.MaxValue).ToArbitrary();

    [Property(MaxTest = 200, Replay = Seed)]
    public Property The_last_good_settings_are_in_force_and_state_survives_every_reload() =>
        Prop.ForAll(Seeds, seed =>
        {
            var trace = new List<string>();
            try
            {
                Run(seed, trace);
            }
            catch (Exception exception)
            {
                throw new InvalidOperationException($"seed {seed}:{Environment.NewLine}{string.Join(Environment.NewLine, trace)}", exception);
            }
        });

    private static void Run(int seed, List<string> trace)
    {
        var random = new Random(seed);
        var good = ReloadSettings.Next(random, mistakeChance: 0);
        var applied = good.Values;
        var last = good;
        trace.Add($"start: {good}");
        using var container = new TestContainer(good.Values.ToDictionary(pair => pair.Key, pair => (string?)pair.Value));
        using var reloads = container.Reloads();
        var provider = container.Provider;
        var orders = provider.GetPipeline("orders");
        var ordersStrategies = LiveOptions.StrategiesOf(orders);
        var limitsStrategies = LiveOptions.StrategiesOf(provider.GetPipeline("limits"));
        var breaker = ((CircuitBreakerStrategy)ordersStrategies[0]).Breaker;
        var timeout = (TimeoutStrategy)ordersStrategies[1];
        var bucket = (TokenBucketLimiter)((RateLimiterStrategy)limitsStrategies[0]).Limiter;
        var limiter = (InFlightLimiter)((RateLimiterStrategy)limitsStrategies[1]).Limiter;
        var held = new List<RateLimitLease>();
        try
        {
            for (var step = random.Next(3, 9); step > 0; step--)
            {
                Calls(random, container, orders, bucket, limiter, held, trace);

                // Now and then the same settings again: a notification of an unchanged section is no reload.
                var next = random.Next(10) == 0 ? last : ReloadSettings.Next(random, mistakeChance: 0.4);
                var jitterSeedChanged = !Equals(((CircuitBreakerOptions)good.OptionsOf("CircuitBreaker")).JitterSeed, next.HasMistake ? null : ((CircuitBreakerOptions)next.OptionsOf("CircuitBreaker")).JitterSeed);
                var valid = !next.HasMistake && !jitterSeedChanged;
                var changed = !Same(applied, next.Values);
                trace.Add($"reload ({(valid ? "valid" : "invalid")}{(changed ? string.Empty : ", unchanged")}): {next}");

                var before = (Snapshot: breaker.GetSnapshot(), Tokens: Available(bucket), Free: Available(limiter));
                var measurements = reloads.GetMeasurementSnapshot().Count;
                var rejectedLogs = RejectedLogs(container);
                foreach (var key in applied.Keys.Union(next.Values.Keys))
                {
                    container.Configuration[key] = next.Values.GetValueOrDefault(key);
                }

                container.Configuration.Reload();
                applied = next.Values;
                last = next;

                var results = reloads.GetMeasurementSnapshot().Skip(measurements).Select(m => (string?)m.Tags["result"]).ToList();
                if (!changed)
                {
                    Assert.Empty(results);
                }
                else if (jitterSeedChanged && !next.HasMistake)
                {
                    // A change of an option fixed at creation is refused (restart to apply it).
                    Assert.Equal(["rejected"], results);
                }
                else
                {
                    Assert.Equal([valid ? "applied" : "rejected"], results);
                }

                if (changed && !valid)
                {
                    Assert.False(provider.LastReload!.IsApplied);
                    Assert.NotEmpty(provider.LastReload.Errors);
                    Assert.All(provider.LastReload.Errors, error => Assert.StartsWith("Resilience:", error, StringComparison.Ordinal));
                    Assert.Equal(rejectedLogs + 1, RejectedLogs(container));
                    Assert.False(provider.GetHealth().IsHealthy);

                    // Nothing moved: not the breaker, its window, the bucket's permits, nor the permits in flight.
                    Assert.Equal(before.Snapshot, breaker.GetSnapshot());
                    Assert.Equal(before.Tokens, Available(bucket));
                    Assert.Equal(before.Free, Available(limiter));
                }
                else if (changed)
                {
                    Assert.True(provider.LastReload!.IsApplied, string.Join(Environment.NewLine, provider.LastReload.Errors));
                    var was = (CircuitBreakerOptions)good.OptionsOf("CircuitBreaker");
                    good = next;
                    var now = (CircuitBreakerOptions)good.OptionsOf("CircuitBreaker");
                    var snapshot = breaker.GetSnapshot();
                    Assert.Equal((before.Snapshot.State, before.Snapshot.Generation), (snapshot.State, snapshot.Generation));
                    if (was.SamplingDuration == now.SamplingDuration && was.BucketCount == now.BucketCount)
                    {
                        Assert.Equal(before.Snapshot, snapshot);
                    }

                    Assert.Equal(Math.Min(before.Tokens, ((TokenBucketLimiterOptions)good.OptionsOf("TokenBucket")).Burst), Available(bucket));
                    Assert.Equal(Math.Max(0, ((InFlightLimiterOptions)good.OptionsOf("ConcurrencyLimiter")).PermitLimit - held.Count), Available(limiter));
                }

                // The settings in force are the last good ones, on the same instances.
                AssertOptions(good.OptionsOf("CircuitBreaker"), breaker.Options);
                Assert.Equal(((TimeoutOptions)good.OptionsOf("Timeout")).Timeout, timeout.Timeout);
                AssertOptions(good.OptionsOf("TokenBucket"), bucket.Options);
                AssertOptions(good.OptionsOf("ConcurrencyLimiter"), limiter.Options);
                Assert.Same(orders, provider.GetPipeline("orders"));
                Assert.Same(breaker, ((CircuitBreakerStrategy)LiveOptions.StrategiesOf(orders)[0]).Breaker);
            }
        }
        finally
        {
            held.ForEach(lease => lease.Dispose());
        }
    }

    /// <summary>Calls between reloads: failures and successes through the breaker, time passing, permits taken and held.</summary>
    private static void Calls(Random random, TestContainer container, ResiliencePipeline orders, TokenBucketLimiter bucket, InFlightLimiter limiter, List<RateLimitLease> held, List<string> trace)
    {
        var failures = random.Next(0, 6);
        var successes = random.Next(0, 3);
        for (var i = 0; i < failures; i++)
        {
            orders.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        }

        for (var i = 0; i < successes; i++)
        {
            orders.ExecuteOutcome(static (_, _) => 1, 0);
        }

        var advance = TimeSpan.FromMilliseconds(random.Next(0, 3) * random.Next(0, 1500));
        container.Time.Advance(advance);

        var taken = random.Next(0, 4);
        for (var i = 0; i < taken; i++)
        {
            using var lease = bucket.AttemptAcquire(1);
        }

        var acquire = random.Next(0, 3);
        for (var i = 0; i < acquire; i++)
        {
            var lease = limiter.AttemptAcquire(1);
            if (lease.IsAcquired)
            {
                held.Add(lease);
            }
            else
            {
                lease.Dispose();
            }
        }

        if (held.Count > 0 && random.Next(3) == 0)
        {
            held[0].Dispose();
            held.RemoveAt(0);
        }

        trace.Add($"calls: {failures} failed, {successes} succeeded, {advance} passed, {taken} tokens taken, {held.Count} permits held; breaker {orders.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker.GetSnapshot()}");
    }

    private static long Available(RateLimiter limiter) => limiter.GetStatistics()!.CurrentAvailablePermits;

    private static int RejectedLogs(TestContainer container) =>
        container.Logs.Collector.GetSnapshot().Count(record => record.Id.Name == "ReloadRejected");

    private static bool Same(Dictionary<string, string> left, Dictionary<string, string> right) =>
        left.Count == right.Count && left.All(pair => right.TryGetValue(pair.Key, out var value) && value == pair.Value);

    private static void AssertOptions(object expected, object actual)
    {
        foreach (var property in expected.GetType().GetProperties().Where(property => property.Name is not ("TimeProvider" or "Name")))
        {
            Assert.True(Equals(property.GetValue(expected), property.GetValue(actual)), $"{property.Name}: expected {property.GetValue(expected)}, in force {property.GetValue(actual)}");
        }
    }
}
