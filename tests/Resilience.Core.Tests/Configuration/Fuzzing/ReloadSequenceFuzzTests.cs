using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// Random sequences of reloads, valid and not, and of breaker options pushed by code, with calls between them (failures
/// that open the breaker, breaker permits held across a change, time passing, token-bucket permits taken, concurrency
/// permits held) and the pipeline's strategies reordered now and then, against a model that keeps the last good
/// settings (pushed options standing for the breaker's section until it changes): after every
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

        // The model: what the configuration holds, the options in force by kind, and options pushed by code (with the
        // text of the breaker's section when they were pushed: they hold until that section changes).
        var config = ReloadSettings.Next(random, mistakeChance: 0);
        var inForce = Kinds.ToDictionary(kind => kind, config.OptionsOf);
        (CircuitBreakerOptions Options, string Section)? push = null;
        trace.Add($"start: {config}");

        using var container = new TestContainer(config.Values.ToDictionary(pair => pair.Key, pair => (string?)pair.Value));
        using var reloads = container.Reloads();
        var provider = container.Provider;
        var orders = provider.GetPipeline("orders");
        var breaker = orders.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker;
        var timeout = TimeoutOf(orders);
        var limitsStrategies = LiveOptions.StrategiesOf(provider.GetPipeline("limits"));
        var bucket = (TokenBucketLimiter)((RateLimiterStrategy)limitsStrategies[0]).Limiter;
        var limiter = (InFlightLimiter)((RateLimiterStrategy)limitsStrategies[1]).Limiter;
        var held = new List<RateLimitLease>();
        var permits = new List<CircuitPermit>();
        try
        {
            for (var step = random.Next(3, 9); step > 0; step--)
            {
                Calls(random, container, orders, bucket, limiter, held, trace);

                // Calls in flight through the breaker across the change (probes too, while it is half-open): they are
                // recorded after it, and must be counted against the window they were admitted by, whatever it became.
                foreach (var permit in permits)
                {
                    breaker.Record(permit, random.Next(2) == 0 ? CircuitCallResult.Success : CircuitCallResult.Failure);
                }

                permits.Clear();
                for (var i = random.Next(0, 3); i > 0; i--)
                {
                    if (breaker.TryAcquire(out var permit))
                    {
                        permits.Add(permit);
                    }
                }

                var afterRecords = breaker.GetSnapshot();
                Assert.InRange(afterRecords.Failures, 0, afterRecords.Calls);
                var before = (Snapshot: breaker.GetSnapshot(), Tokens: Available(bucket), Free: Available(limiter));
                var measurements = reloads.GetMeasurementSnapshot().Count;
                var rejectedLogs = RejectedLogs(container);
                var healthy = provider.GetHealth().IsHealthy;
                var wasBreaker = (CircuitBreakerOptions)inForce["CircuitBreaker"];

                bool read;
                Dictionary<string, object>? next;
                var isPush = random.Next(4) == 0;
                if (isPush)
                {
                    // Options pushed by code: read with the configuration as it is, applied or refused as a whole.
                    var pushed = random.Next(3) == 0
                        ? new CircuitBreakerOptions { FailureRatio = 1.5 }
                        : (CircuitBreakerOptions)ReloadSettings.Next(random, mistakeChance: 0).OptionsOf("CircuitBreaker");
                    var candidate = (pushed, config.SectionText("CircuitBreaker"));
                    next = Evaluate(config, candidate, inForce);
                    trace.Add($"push (expected {(next is null ? "rejected" : "applied")}): FailureRatio {pushed.FailureRatio}, MinimumThroughput {pushed.MinimumThroughput}, JitterSeed {pushed.JitterSeed}");
                    var result = provider.UpdateOptions("Pipelines:orders:CircuitBreaker", pushed);
                    Assert.Equal(next is not null, result.IsApplied);
                    read = true;
                    if (next is not null)
                    {
                        push = candidate;
                    }
                }
                else
                {
                    // Now and then the same settings again: a notification of an unchanged section is no reload.
                    var changed = random.Next(10) == 0 ? config : ReloadSettings.Next(random, mistakeChance: 0.4);
                    read = !Same(config.Values, changed.Values);
                    foreach (var key in config.Values.Keys.Union(changed.Values.Keys))
                    {
                        container.Configuration[key] = changed.Values.GetValueOrDefault(key);
                    }

                    config = changed;
                    next = read ? Evaluate(config, push, inForce) : null;
                    trace.Add($"reload (expected {(!read ? "unchanged" : next is null ? "rejected" : "applied")}): {config}");
                    container.Configuration.Reload();
                    if (next is not null && push is { } active && active.Section != config.SectionText("CircuitBreaker"))
                    {
                        // The breaker's section changed: configuration takes over from the pushed options.
                        push = null;
                    }
                }

                var results = reloads.GetMeasurementSnapshot().Skip(measurements).Select(m => (string?)m.Tags["result"]).ToList();
                Assert.Equal(read ? [next is null ? "rejected" : "applied"] : [], results);
                if (read && next is null)
                {
                    Assert.False(provider.LastReload!.IsApplied);
                    Assert.NotEmpty(provider.LastReload.Errors);
                    Assert.All(provider.LastReload.Errors, error => Assert.StartsWith("Resilience:", error, StringComparison.Ordinal));
                    Assert.Equal(rejectedLogs + 1, RejectedLogs(container));

                    // A rejected configuration is unhealthy; a rejected push changes nothing, health included.
                    Assert.Equal(isPush ? healthy : false, provider.GetHealth().IsHealthy);

                    // Nothing moved: not the breaker, its window, the bucket's permits, nor the permits in flight.
                    Assert.Equal(before.Snapshot, breaker.GetSnapshot());
                    Assert.Equal(before.Tokens, Available(bucket));
                    Assert.Equal(before.Free, Available(limiter));
                }
                else if (next is not null)
                {
                    Assert.True(provider.LastReload!.IsApplied, string.Join(Environment.NewLine, provider.LastReload.Errors));
                    inForce = next;
                    var now = (CircuitBreakerOptions)inForce["CircuitBreaker"];
                    var snapshot = breaker.GetSnapshot();
                    Assert.Equal((before.Snapshot.State, before.Snapshot.Generation), (snapshot.State, snapshot.Generation));
                    if (wasBreaker.SamplingDuration == now.SamplingDuration && wasBreaker.BucketCount == now.BucketCount)
                    {
                        Assert.Equal(before.Snapshot, snapshot);
                    }

                    Assert.Equal(Math.Min(before.Tokens, ((TokenBucketLimiterOptions)inForce["TokenBucket"]).Burst), Available(bucket));
                    Assert.Equal(Math.Max(0, ((InFlightLimiterOptions)inForce["ConcurrencyLimiter"]).PermitLimit - held.Count), Available(limiter));
                    Assert.Equal(
                        config.OrdersStrategies.Select(section => section == "CircuitBreaker" ? "CircuitBreakerStrategy" : "TimeoutStrategy"),
                        LiveOptions.StrategiesOf(orders).Select(strategy => strategy.GetType().Name));
                }

                // The settings in force are the model's, on the same instances (sections kept their names and types).
                AssertOptions(inForce["CircuitBreaker"], breaker.Options);
                Assert.Equal(((TimeoutOptions)inForce["Timeout"]).Timeout, timeout.Timeout);
                AssertOptions(inForce["TokenBucket"], bucket.Options);
                AssertOptions(inForce["ConcurrencyLimiter"], limiter.Options);
                Assert.Same(orders, provider.GetPipeline("orders"));
                Assert.Same(breaker, orders.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker);
                Assert.Same(timeout, TimeoutOf(orders));
            }
        }
        finally
        {
            held.ForEach(lease => lease.Dispose());
        }
    }

    private static readonly string[] Kinds = ["CircuitBreaker", "Timeout", "TokenBucket", "ConcurrencyLimiter"];

    /// <summary>
    /// The model's reading: the options each kind would have in force, or <see langword="null"/> when the reading must be
    /// refused (a wrong value, or a change of the breaker's jitter seed, which is fixed when it is created).
    /// </summary>
    private static Dictionary<string, object>? Evaluate(ReloadSettings config, (CircuitBreakerOptions Options, string Section)? push, Dictionary<string, object> inForce)
    {
        var pushed = push is { } active && active.Section == config.SectionText("CircuitBreaker") ? active.Options : null;
        if (config.HasMistake && !(pushed is not null && config.MistakeMaskedByPush))
        {
            return null;
        }

        var next = Kinds.ToDictionary(kind => kind, kind => kind == "CircuitBreaker" && pushed is not null ? pushed : config.OptionsOf(kind));

        var breaker = (CircuitBreakerOptions)next["CircuitBreaker"];
        if (breaker.FailureRatio is <= 0 or > 1 || breaker.JitterSeed != ((CircuitBreakerOptions)inForce["CircuitBreaker"]).JitterSeed)
        {
            return null;
        }

        return next;
    }

    /// <summary>Gets the strategy of section <c>Timeout</c> (not <c>Extra</c>, whose timeout is 20 seconds and alone of the two never changes).</summary>
    private static TimeoutStrategy TimeoutOf(ResiliencePipeline pipeline)
    {
        var strategies = LiveOptions.StrategiesOf(pipeline).OfType<TimeoutStrategy>().ToList();
        return strategies.Count == 1 ? strategies[0] : strategies.Single(strategy => strategy.Name.EndsWith("/Timeout", StringComparison.Ordinal));
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
