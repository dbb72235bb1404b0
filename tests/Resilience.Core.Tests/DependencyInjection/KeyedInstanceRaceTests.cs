using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Resilience.Tests.DependencyInjection;

/// <summary>
/// A pipeline's keyed instances under races, on real threads with bounded loops: new keys churning past the cap while
/// reloads, pushed options, rejected changes, layout changes or the provider's disposal run. The invariants are checked
/// after each change, while the workers go on, and after the race: every live instance has the settings applied last, the
/// count stays within the cap, no limiter a caller saw is left undisposed after the provider is, and no exception but the
/// documented ones reached a caller. Also: evicted instances leave the gauges and are collected under far more keys than
/// the cap.
/// </summary>
public sealed class KeyedInstanceRaceTests
{
    private const string Section = "Resilience:Pipelines:orders:";
    private const string Breaker = Section + "CircuitBreaker:";
    private const int Cap = 8;
    private const int Workers = 4;

    public static TheoryData<bool> Registrations => new() { false, true };

    /// <summary>Pipeline "orders" of <see cref="KeyedInstanceTests"/> (a breaker, a concurrency limiter of 2 permits), at most <paramref name="cap"/> instances.</summary>
    private static TestContainer Container(bool inCode, int cap = Cap) =>
        KeyedInstanceTests.Container(inCode, resilience => resilience.ConfigureInstances(options => options.MaxInstances = cap));

    private static Resilience.CircuitBreaker BreakerOf(ResiliencePipeline pipeline) => KeyedInstanceTests.BreakerOf(pipeline);

    private static InFlightLimiter LimiterOf(ResiliencePipeline pipeline) => (InFlightLimiter)pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;

    private static List<string> Instances(TestContainer container) =>
        [.. container.Provider.GetHealth().Pipelines.Single(pipeline => pipeline.Name == "orders").Instances];

    private static bool Succeeds(ResiliencePipeline pipeline) => KeyedInstanceTests.Succeeds(pipeline);

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Runs <see cref="Workers"/> threads that each ask for their own key and for keys from a pool four times the cap (so
    /// instances are created and evicted all along, while the own keys' instances mostly live through) and call through
    /// what they get, while <paramref name="race"/> runs on this thread; returns what the workers threw.
    /// </summary>
    private static List<Exception> Churn(TestContainer container, Action race, int iterations = 1_500, ConcurrentBag<ResiliencePipeline>? seen = null)
    {
        var provider = container.Provider;
        var thrown = new ConcurrentQueue<Exception>();
        using var start = new Barrier(Workers + 1);
        var threads = Enumerable.Range(0, Workers).Select(worker => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                for (var i = 0; i < iterations; i++)
                {
                    // Every other call on the worker's own key, which then stays live from before the race to after it;
                    // the others on keys that churn through the rest of the cap.
                    var pipeline = provider.GetPipeline("orders", i % 2 == 0 ? $"hot{worker}" : $"k{((i * 7) + (worker * 5)) % (Cap * 4)}");
                    seen?.Add(pipeline);
                    pipeline.ExecuteOutcome(static (_, _) => 1, 0);
                }
            }
            catch (Exception exception)
            {
                thrown.Enqueue(exception);
            }
        })).ToList();
        threads.ForEach(thread => thread.Start());
        start.SignalAndWait();
        try
        {
            race();
        }
        finally
        {
            threads.ForEach(thread => thread.Join());
        }

        return [.. thrown];
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Keys_churning_past_the_cap_while_reloads_and_pushes_apply_all_end_on_the_settings_applied_last(bool inCode)
    {
        using var container = Container(inCode);
        const int Changes = 40;

        var thrown = Churn(container, () =>
        {
            for (var change = 1; change <= Changes; change++)
            {
                // The breaker through configuration, the limiter through pushed options, which configuration leaves in force.
                container.Change((Breaker + "FailureRatio", Text(0.5 + (change / 100.0))));
                Assert.True(container.Provider.LastReload!.IsApplied);
                Assert.True(container.Provider.UpdateOptions("Pipelines:orders:ConcurrencyLimiter", new InFlightLimiterOptions { PermitLimit = 2 + change }).IsApplied);

                // Checked while the workers go on: every instance live now, whenever it was created, has both.
                AssertEveryLiveInstance(container, 0.5 + (change / 100.0), 2 + change);
            }
        });

        Assert.Empty(thrown);
        AssertEveryLiveInstance(container, 0.5 + (Changes / 100.0), 2 + Changes);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Keys_churning_while_reloads_lower_and_raise_the_cap_stay_within_the_cap_applied_last(bool inCode)
    {
        using var container = Container(inCode);
        var caps = new[] { 3, 12, 1, Cap, 5 };

        var thrown = Churn(container, () =>
        {
            for (var change = 0; change < 40; change++)
            {
                var cap = caps[change % caps.Length];
                container.Change((Section + "MaxInstances", Text(cap)));
                Assert.True(container.Provider.LastReload!.IsApplied);

                // Checked while the workers go on: a lowered cap evicted down to it at once, and new keys keep to it.
                Assert.InRange(Instances(container).Count, 0, cap);
            }
        });

        Assert.Empty(thrown);
        Assert.InRange(Instances(container).Count, 1, 5);
        foreach (var key in Enumerable.Range(0, 20).Select(i => $"after{i}"))
        {
            Assert.True(Succeeds(container.Provider.GetPipeline("orders", key)));
        }

        Assert.Equal(5, Instances(container).Count);
    }

    [Fact]
    public void Limiters_of_evicted_instances_still_held_are_scanned_once_per_doubling_of_the_list_not_once_per_eviction()
    {
        using var container = Container(inCode: false, cap: 1);
        var provider = container.Provider;
        var held = new List<ResiliencePipeline>();
        for (var i = 0; i < 5_000; i++)
        {
            held.Add(provider.GetPipeline("orders", $"k{i}"));
        }

        // 4,999 evictions each retire a limiter the test still holds, so no scan finds one collected: the list is scanned
        // as it reaches 64, 128, …, 4,096 entries (7 times), where a scan per retirement made 4,999 (30-39 s for 100,000).
        Assert.InRange(provider.Runtime.RetiredLimiterScans, 1, 8);
        GC.KeepAlive(held);
    }

    /// <summary>Checks the settings of every live instance, and that they are within the cap.</summary>
    private static void AssertEveryLiveInstance(TestContainer container, double failureRatio, int permitLimit)
    {
        var live = Instances(container);
        Assert.InRange(live.Count, 0, Cap);
        foreach (var key in live)
        {
            // An instance evicted since the listing is created again here, on the current settings: the same check holds.
            var pipeline = container.Provider.GetPipeline("orders", key);
            Assert.Equal(failureRatio, BreakerOf(pipeline).Options.FailureRatio);
            Assert.Equal(permitLimit, LimiterOf(pipeline).Options.PermitLimit);
        }
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Rejected_changes_during_churn_reach_no_instance_old_or_new(bool inCode)
    {
        using var container = Container(inCode);

        var thrown = Churn(container, () =>
        {
            for (var change = 1; change <= 40; change++)
            {
                // The breaker's part is valid, the limiter's is not: each change is rejected as a whole.
                container.Change((Breaker + "FailureRatio", Text(0.5 + (change / 100.0))), (Section + "ConcurrencyLimiter:PermitLimit", "0"));
                Assert.False(container.Provider.LastReload!.IsApplied);
                Assert.False(container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 2 }).IsApplied);
                AssertEveryLiveInstance(container, 0.5, 2);
            }
        });

        Assert.Empty(thrown);
        AssertEveryLiveInstance(container, 0.5, 2);
    }

    [Fact]
    public void Keys_churning_while_the_strategies_list_changes_all_end_on_the_layout_applied_last()
    {
        using var container = Container(inCode: false);
        var single = container.Provider.GetPipeline("orders");

        var thrown = Churn(container, () =>
        {
            for (var change = 1; change <= 41; change++)
            {
                // Strategies added, removed and swapped: [breaker, limiter], [breaker, limiter, timeout], [timeout, breaker].
                var layout = (change % 3) switch
                {
                    0 => new[] { "CircuitBreaker", "ConcurrencyLimiter", null },
                    1 => ["CircuitBreaker", "ConcurrencyLimiter", "Timeout"],
                    _ => ["Timeout", "CircuitBreaker", null],
                };

                // A section not listed is an error: each section is declared exactly when it is listed.
                container.Change(
                [
                    .. layout.Select((strategy, index) => (Section + "Strategies:" + index, strategy)),
                    (Section + "ConcurrencyLimiter:PermitLimit", layout.Contains("ConcurrencyLimiter") ? "2" : null),
                    (Section + "Timeout:Timeout", layout.Contains("Timeout") ? "00:00:05" : null),
                ]);
                Assert.True(container.Provider.LastReload!.IsApplied, string.Join("\n", container.Provider.LastReload.Errors));
                AssertEveryLiveInstanceHasTheLayoutOf(container, single);
            }
        });

        Assert.Empty(thrown);
        Assert.Equal([typeof(TimeoutStrategy), typeof(CircuitBreakerStrategy)], single.Strategies.Select(strategy => strategy.GetType()).Where(type => type != typeof(TelemetryStrategy)));
        AssertEveryLiveInstanceHasTheLayoutOf(container, single);
    }

    /// <summary>Checks that every live instance has the strategies of the single instance, in its order, each its own.</summary>
    private static void AssertEveryLiveInstanceHasTheLayoutOf(TestContainer container, ResiliencePipeline single)
    {
        var expected = single.Strategies.Select(strategy => strategy.GetType()).ToList();
        var live = Instances(container);
        Assert.InRange(live.Count, 0, Cap);
        foreach (var key in live)
        {
            var pipeline = container.Provider.GetPipeline("orders", key);
            Assert.Equal(expected, pipeline.Strategies.Select(strategy => strategy.GetType()));
            Assert.NotSame(BreakerOf(single), BreakerOf(pipeline));
            Assert.All(pipeline.Strategies.Where(strategy => strategy is not TelemetryStrategy), strategy => Assert.DoesNotContain(strategy, single.Strategies));
        }
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Disposing_the_provider_while_keys_are_looked_up_and_created_leaves_no_limiter_undisposed(bool inCode)
    {
        using var container = Container(inCode);
        var seen = new ConcurrentBag<ResiliencePipeline>();

        var thrown = Churn(
            container,
            () =>
            {
                // Disposed once the workers are under way, while they create, evict and look up.
                SpinWait.SpinUntil(() => seen.Count >= Workers * 50);
                container.Provider.Dispose();
            },
            iterations: 1_000_000,
            seen);

        // Each worker stops on its first documented failure: a key not live any more, or a call on a disposed limiter.
        Assert.Equal(Workers, thrown.Count);
        Assert.All(thrown, exception => Assert.IsType<ObjectDisposedException>(exception));
        Assert.InRange(seen.Distinct().Count(), Cap + 1, int.MaxValue);
        Assert.All(seen.Distinct(), pipeline => Assert.Throws<ObjectDisposedException>(() => LimiterOf(pipeline).AttemptAcquire()));
        Assert.Throws<ObjectDisposedException>(() => container.Provider.GetPipeline("orders", "never-seen"));
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Evicted_instances_leave_the_gauges_and_are_collected_under_far_more_keys_than_the_cap(bool inCode)
    {
        const int Keys = 100_000;
        const int Kept = 100;
        using var container = Container(inCode, cap: Kept);
        using var permits = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.permits_available");

        // Held by a caller past its eviction: reachable, so only its untracking keeps it out of the gauges.
        var held = container.Provider.GetPipeline("orders", "held");
        var first = FirstInstances(container.Provider, Kept);

        for (var i = Kept; i < Keys; i++)
        {
            container.Provider.GetPipeline("orders", $"k{i}");
        }

        // One gauge value per live instance's limiter, none for the evicted, the one still held included.
        permits.RecordObservableInstruments();
        var reported = permits.GetMeasurementSnapshot().Where(m => m.Tags.ContainsKey("pipeline.instance")).Select(m => (string?)m.Tags["pipeline.instance"]).ToList();
        Assert.Equal(Instances(container), reported.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("held", reported);
        Assert.Equal(Kept, container.Provider.GetHealth().CircuitBreakers.Count(breaker => breaker.InstanceKey is not null));

        // Nothing the provider keeps holds an evicted instance, its breaker or its limiter.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(first, reference => Assert.False(reference.TryGetTarget(out _)));
        Assert.Equal(Kept, Instances(container).Count);
        Assert.True(Succeeds(held));
    }

    /// <summary>The breakers and limiters of the first keys' instances, held weakly; out of line so nothing here roots them.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static List<WeakReference<object>> FirstInstances(ResiliencePipelineProvider provider, int count)
    {
        var references = new List<WeakReference<object>>();
        for (var i = 0; i < count; i++)
        {
            var pipeline = provider.GetPipeline("orders", $"k{i}");
            references.Add(new WeakReference<object>(BreakerOf(pipeline)));
            references.Add(new WeakReference<object>(LimiterOf(pipeline)));
            references.Add(new WeakReference<object>(pipeline));
        }

        return references;
    }
}
