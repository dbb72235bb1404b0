using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Options;
using Resilience.DependencyInjection;

namespace Resilience.Tests.DependencyInjection;

/// <summary>
/// A pipeline's instances per key (<see cref="ResiliencePipelineProvider.GetPipeline(string, string)"/>): each with its
/// own breaker and limiters, the same one per key while it lives, reached in place by every applied change, capped with
/// least-recently-used eviction, tagged in telemetry and listed in health. Each behaviour is checked for a pipeline
/// declared in configuration and for one registered in code.
/// </summary>
public sealed class KeyedInstanceTests
{
    private const string Section = "Resilience:Pipelines:orders:";
    private const string Breaker = Section + "CircuitBreaker:";

    public static TheoryData<bool> Registrations => new() { false, true };

    /// <summary>A container with pipeline "orders": a breaker (2 calls, then open for a minute) and a concurrency limiter of 2 permits.</summary>
    internal static TestContainer Container(bool inCode, Action<ResilienceBuilder>? configure = null, params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            [Breaker + "MinimumThroughput"] = "2",
            [Breaker + "BreakDuration"] = "00:01:00",
            [Section + "ConcurrencyLimiter:PermitLimit"] = "2",
        };
        if (!inCode)
        {
            settings[Section + "Strategies:0"] = "CircuitBreaker";
            settings[Section + "Strategies:1"] = "ConcurrencyLimiter";
        }

        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return new TestContainer(settings, services =>
        {
            var resilience = services.AddResilience();
            if (inCode)
            {
                resilience.AddPipeline("orders", (builder, context) => builder
                    .AddCircuitBreaker(context.BindCircuitBreaker())
                    .AddRateLimiter(context.BindConcurrencyLimiter()));
            }

            configure?.Invoke(resilience);
        });
    }

    internal static Resilience.CircuitBreaker BreakerOf(ResiliencePipeline pipeline) => pipeline.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker;

    private static RateLimiter LimiterOf(ResiliencePipeline pipeline) => pipeline.Strategies.OfType<RateLimiterStrategy>().Single().Limiter;

    private static void Fail(ResiliencePipeline pipeline, int times)
    {
        for (var i = 0; i < times; i++)
        {
            pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        }
    }

    internal static bool Succeeds(ResiliencePipeline pipeline) => pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsSuccess;

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Distinct_keys_have_distinct_breakers_and_one_opening_leaves_the_others_closed(bool inCode)
    {
        using var container = Container(inCode);
        var first = container.Provider.GetPipeline("orders", "https://a.example:443");
        var second = container.Provider.GetPipeline("orders", "https://b.example:443");

        Fail(first, 2);

        Assert.NotSame(BreakerOf(first), BreakerOf(second));
        Assert.NotSame(LimiterOf(first), LimiterOf(second));
        Assert.Equal(CircuitState.Open, BreakerOf(first).State);
        Assert.False(Succeeds(first));
        Assert.Equal(CircuitState.Closed, BreakerOf(second).State);
        Assert.True(Succeeds(second));

        // The single instance is another one again, untouched.
        var single = container.Provider.GetPipeline("orders");
        Assert.Equal(CircuitState.Closed, BreakerOf(single).State);
        Assert.DoesNotContain(BreakerOf(single), new[] { BreakerOf(first), BreakerOf(second) });
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void The_same_key_gets_the_same_instance_and_its_state(bool inCode)
    {
        using var container = Container(inCode);
        var first = container.Provider.GetPipeline("orders", "tenant-1");
        Fail(first, 2);

        var again = container.Provider.GetPipeline("ORDERS", "tenant-1");

        Assert.Same(first, again);
        Assert.Equal(CircuitState.Open, BreakerOf(again).State);

        // Keys are compared ordinally: another case is another instance.
        Assert.NotSame(first, container.Provider.GetPipeline("orders", "TENANT-1"));
    }

    [Fact]
    public void A_typed_and_an_untyped_form_of_one_key_share_its_state()
    {
        using var container = Container(inCode: false);
        var untyped = container.Provider.GetPipeline("orders", "a");
        Fail(untyped, 2);

        var typed = container.Provider.GetPipeline<int>("orders", "a");

        Assert.Same(BreakerOf(untyped), typed.Strategies.OfType<CircuitBreakerStrategy>().Single().Breaker);
        Assert.Same(typed, container.Provider.GetPipeline<int>("orders", "a"));
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void A_reload_changes_every_instance_in_place_and_each_keeps_its_state(bool inCode)
    {
        using var container = Container(inCode);
        var open = container.Provider.GetPipeline("orders", "a");
        var counting = container.Provider.GetPipeline("orders", "b");
        Fail(open, 2);
        Fail(counting, 1);
        var (openBreaker, countingBreaker, limiter) = (BreakerOf(open), BreakerOf(counting), LimiterOf(counting));
        var generation = openBreaker.GetSnapshot().Generation;
        using var held = limiter.AttemptAcquire();
        Assert.True(held.IsAcquired);

        container.Change((Breaker + "FailureRatio", "0.9"), (Breaker + "BreakDuration", "00:05:00"), (Section + "ConcurrencyLimiter:PermitLimit", "3"));

        Assert.True(container.Provider.LastReload!.IsApplied);
        Assert.Same(open, container.Provider.GetPipeline("orders", "a"));
        Assert.Same(openBreaker, BreakerOf(open));
        Assert.Same(countingBreaker, BreakerOf(counting));
        Assert.All(new[] { openBreaker, countingBreaker }, breaker => Assert.Equal((0.9, TimeSpan.FromMinutes(5)), (breaker.Options.FailureRatio, breaker.Options.BreakDuration)));
        Assert.Equal((CircuitState.Open, generation), (openBreaker.State, openBreaker.GetSnapshot().Generation));
        Assert.Equal((CircuitState.Closed, 1L, 1L), (countingBreaker.State, countingBreaker.GetSnapshot().Calls, countingBreaker.GetSnapshot().Failures));

        // The permit held through the change still counts: 3 permits, one taken.
        Assert.Equal(2, limiter.GetStatistics()!.CurrentAvailablePermits);
        Assert.Equal(3, LimiterOf(open).GetStatistics()!.CurrentAvailablePermits);

        // An instance created after the change starts on the new settings.
        Assert.Equal(0.9, BreakerOf(container.Provider.GetPipeline("orders", "c")).Options.FailureRatio);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Options_pushed_by_code_reach_every_instance(bool inCode)
    {
        using var container = Container(inCode);
        var first = container.Provider.GetPipeline("orders", "a");
        var second = container.Provider.GetPipeline("orders", "b");
        Fail(first, 2);

        var result = container.Provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { MinimumThroughput = 7, BreakDuration = TimeSpan.FromMinutes(1) });

        Assert.True(result.IsApplied);
        Assert.Equal((7, 7), (BreakerOf(first).Options.MinimumThroughput, BreakerOf(second).Options.MinimumThroughput));
        Assert.Equal(CircuitState.Open, BreakerOf(first).State);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void A_rejected_reload_changes_no_instance(bool inCode)
    {
        using var container = Container(inCode);
        var first = container.Provider.GetPipeline("orders", "a");
        var second = container.Provider.GetPipeline("orders", "b");

        // The breaker's part is valid, the limiter's is not: the change is rejected as a whole.
        container.Change((Breaker + "FailureRatio", "0.9"), (Section + "ConcurrencyLimiter:PermitLimit", "0"));

        Assert.False(container.Provider.LastReload!.IsApplied);
        Assert.All(new[] { first, second }, pipeline => Assert.Equal(0.5, BreakerOf(pipeline).Options.FailureRatio));
        Assert.All(new[] { first, second }, pipeline => Assert.Equal(2, LimiterOf(pipeline).GetStatistics()!.CurrentAvailablePermits));
    }

    [Fact]
    public void A_change_of_a_configured_pipelines_strategies_rebuilds_every_instance_keeping_the_sections_it_keeps()
    {
        using var container = Container(inCode: false);
        var pipeline = container.Provider.GetPipeline("orders", "a");
        Fail(pipeline, 2);
        var breaker = BreakerOf(pipeline);

        container.Change((Section + "Strategies:1", "Timeout"), (Section + "ConcurrencyLimiter:PermitLimit", null), (Section + "Timeout:Timeout", "00:00:05"));

        Assert.True(container.Provider.LastReload!.IsApplied);
        Assert.Same(pipeline, container.Provider.GetPipeline("orders", "a"));
        Assert.Same(breaker, BreakerOf(pipeline));
        Assert.Equal(CircuitState.Open, breaker.State);
        var timeout = Assert.Single(pipeline.Strategies.OfType<TimeoutStrategy>());
        Assert.Equal(TimeSpan.FromSeconds(5), timeout.Timeout);
        Assert.NotSame(timeout, container.Provider.GetPipeline("orders").Strategies.OfType<TimeoutStrategy>().Single());
        Assert.Empty(pipeline.Strategies.OfType<RateLimiterStrategy>());
    }

    [Fact]
    public void A_pipeline_removed_from_configuration_keeps_serving_its_instances_and_gives_a_new_key_its_last_strategies()
    {
        using var container = Container(inCode: false, configure: null, ("Resilience:Pipelines:other:Strategies:0", "Timeout"));
        var held = container.Provider.GetPipeline("orders", "a");
        Fail(held, 2);

        container.Change(
            (Section + "Strategies:0", null),
            (Section + "Strategies:1", null),
            (Breaker + "MinimumThroughput", null),
            (Breaker + "BreakDuration", null),
            (Section + "ConcurrencyLimiter:PermitLimit", null));

        Assert.True(container.Provider.LastReload!.IsApplied);
        Assert.Same(held, container.Provider.GetPipeline("orders", "a"));
        Assert.Equal(CircuitState.Open, BreakerOf(held).State);

        // A key first asked for after the removal gets an instance of the strategies the pipeline kept: its own breaker,
        // on the options the pipeline last had (two failures open it).
        var fresh = container.Provider.GetPipeline("orders", "b");
        Assert.NotSame(BreakerOf(held), BreakerOf(fresh));
        Assert.Equal(CircuitState.Closed, BreakerOf(fresh).State);
        Fail(fresh, 2);
        Assert.Equal(CircuitState.Open, BreakerOf(fresh).State);
        Assert.Equal(2, (LimiterOf(fresh) as InFlightLimiter)!.GetStatistics()!.CurrentAvailablePermits);
    }

    [Fact]
    public void A_retyped_section_gives_every_instance_a_new_component_of_the_new_type()
    {
        using var container = Container(inCode: false);
        var pipeline = container.Provider.GetPipeline("orders", "a");
        var before = LimiterOf(pipeline);

        container.Change(
            (Section + "ConcurrencyLimiter:Type", "TokenBucket"),
            (Section + "ConcurrencyLimiter:PermitLimit", null),
            (Section + "ConcurrencyLimiter:PermitsPerSecond", "1"),
            (Section + "ConcurrencyLimiter:Burst", "3"));

        Assert.True(container.Provider.LastReload!.IsApplied);
        var after = Assert.IsType<TokenBucketLimiter>(LimiterOf(pipeline));
        Assert.NotSame(LimiterOf(container.Provider.GetPipeline("orders")), after);
        Assert.Equal(3, after.GetStatistics()!.CurrentAvailablePermits);

        // The instance's old limiter left service; the provider disposes it with the rest.
        container.Dispose();
        Assert.Throws<ObjectDisposedException>(() => before.AttemptAcquire());
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Components_taken_by_name_from_the_shared_ones_stay_shared_by_every_instance(bool inCode)
    {
        var settings = new (string, string?)[]
        {
            ("Resilience:CircuitBreakers:payments:MinimumThroughput", "2"),
            (Section + "Strategies:0", "Payments"),
            (Section + "Payments:Type", "CircuitBreaker"),
            (Section + "Payments:Shared", "payments"),
        };
        using var container = new TestContainer(
            (inCode ? settings.Take(1) : settings).ToDictionary(pair => pair.Item1, pair => pair.Item2),
            services =>
            {
                if (inCode)
                {
                    services.AddResiliencePipeline("orders", (builder, context) => builder.AddCircuitBreaker(context.GetCircuitBreaker("payments")));
                }
            });
        var shared = container.Provider.GetCircuitBreaker("payments");

        var first = container.Provider.GetPipeline("orders", "a");
        var second = container.Provider.GetPipeline("orders", "b");
        Fail(first, 2);

        Assert.Same(shared, BreakerOf(first));
        Assert.Same(shared, BreakerOf(second));
        Assert.Equal(CircuitState.Open, BreakerOf(second).State);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Past_the_cap_the_least_recently_used_instance_is_evicted(bool inCode)
    {
        using var container = Container(inCode, resilience => resilience.ConfigureInstances(options => options.MaxInstances = 3));
        var a = container.Provider.GetPipeline("orders", "a");
        Fail(a, 2);
        var b = container.Provider.GetPipeline("orders", "b");
        container.Provider.GetPipeline("orders", "c");

        // a is used again: b is now the least recently used, and d's arrival evicts it.
        Assert.Same(a, container.Provider.GetPipeline("orders", "a"));
        container.Provider.GetPipeline("orders", "d");

        Assert.Equal(["a", "c", "d"], Instances(container));
        Assert.Same(a, container.Provider.GetPipeline("orders", "a"));
        Assert.Equal(CircuitState.Open, BreakerOf(a).State);

        // b comes back as a fresh instance, which evicts c.
        var back = container.Provider.GetPipeline("orders", "b");
        Assert.NotSame(b, back);
        Assert.Equal(["a", "b", "d"], Instances(container));

        // A caller still holding the evicted instance finishes its calls on it.
        Assert.True(Succeeds(b));
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void A_cap_in_the_pipelines_settings_applies_and_a_reload_lowering_it_evicts_the_least_recently_used_at_once(bool inCode)
    {
        using var container = Container(inCode, resilience => resilience.ConfigureInstances(options => options.MaxInstances = 100), (Section + "MaxInstances", "3"));
        var a = container.Provider.GetPipeline("orders", "a");
        Fail(a, 2);
        container.Provider.GetPipeline("orders", "b");
        container.Provider.GetPipeline("orders", "c");
        Assert.Same(a, container.Provider.GetPipeline("orders", "a"));
        container.Provider.GetPipeline("orders", "d");
        Assert.Equal(["a", "c", "d"], Instances(container));

        // Lowered: c, the least recently used, leaves service at once; a keeps its open breaker.
        container.Change((Section + "MaxInstances", "2"));

        Assert.True(container.Provider.LastReload!.IsApplied, container.Provider.LastReload!.ToString());
        Assert.Equal(["a", "d"], Instances(container));
        Assert.Equal(2, container.Provider.GetHealth().Pipelines.Single(pipeline => pipeline.Name == "orders").MaxInstances);
        Assert.Same(a, container.Provider.GetPipeline("orders", "a"));
        Assert.Equal(CircuitState.Open, BreakerOf(a).State);

        // Raised: new keys join without evicting, up to the new cap.
        container.Change((Section + "MaxInstances", "4"));
        container.Provider.GetPipeline("orders", "e");
        container.Provider.GetPipeline("orders", "f");
        Assert.Equal(["a", "d", "e", "f"], Instances(container));
        container.Provider.GetPipeline("orders", "g");
        Assert.Equal(4, Instances(container).Count);

        // Removed from the settings: the code's cap (100) is in force again.
        container.Change((Section + "MaxInstances", null));
        foreach (var key in new[] { "h", "i", "j" })
        {
            container.Provider.GetPipeline("orders", key);
        }

        Assert.Equal(7, Instances(container).Count);
        Assert.Equal(100, container.Provider.GetHealth().Pipelines.Single(pipeline => pipeline.Name == "orders").MaxInstances);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void A_cap_out_of_its_range_fails_the_start_and_a_reload_to_one_is_rejected_keeping_the_last_cap(bool inCode)
    {
        using (var failing = Container(inCode, configure: null, (Section + "MaxInstances", "0")))
        {
            var failure = Assert.Throws<OptionsValidationException>(() => failing.Provider);
            Assert.Contains(
                "Resilience:Pipelines:orders:MaxInstances must be a whole number in [1, 2147483647] (the keyed instances the pipeline keeps alive at most); was '0'.",
                failure.Failures);
        }

        using var container = Container(inCode, configure: null, (Section + "MaxInstances", "2"));
        container.Provider.GetPipeline("orders", "a");

        container.Change((Section + "MaxInstances", "many"));

        var reload = container.Provider.LastReload!;
        Assert.False(reload.IsApplied);
        Assert.Equal(
            ["Resilience:Pipelines:orders:MaxInstances must be a whole number in [1, 2147483647] (the keyed instances the pipeline keeps alive at most); was 'many'."],
            reload.Errors);
        container.Provider.GetPipeline("orders", "b");
        container.Provider.GetPipeline("orders", "c");
        Assert.Equal(["b", "c"], Instances(container));
    }

    [Fact]
    public void Recency_is_kept_within_half_a_cap_so_lookups_by_turns_write_nothing_and_a_key_in_steady_use_is_never_evicted()
    {
        using var container = Container(inCode: false, resilience => resilience.ConfigureInstances(options => options.MaxInstances = 8));

        // a and b by turns, as a client calling two hosts, a last: a keeps the stamp it was created with (no lookup wrote
        // a new one), so a goes first once seven more keys pass the cap, although b was used before it.
        var a = container.Provider.GetPipeline("orders", "a");
        container.Provider.GetPipeline("orders", "b");
        for (var i = 0; i < 100; i++)
        {
            container.Provider.GetPipeline("orders", "b");
            container.Provider.GetPipeline("orders", "a");
        }

        for (var i = 0; i < 7; i++)
        {
            container.Provider.GetPipeline("orders", $"new{i}");
        }

        Assert.DoesNotContain("a", Instances(container));
        Assert.Contains("b", Instances(container));

        // A key used again before half the cap (4) of new keys arrive is never the one evicted, however many come.
        var hot = container.Provider.GetPipeline("orders", "hot");
        for (var i = 0; i < 1_000; i++)
        {
            container.Provider.GetPipeline("orders", $"scan{i}");
            if (i % 3 == 2)
            {
                Assert.Same(hot, container.Provider.GetPipeline("orders", "hot"));
            }
        }

        Assert.NotSame(a, container.Provider.GetPipeline("orders", "a"));
    }

    [Fact]
    public void Far_more_keys_than_the_cap_keep_the_count_at_the_cap_and_the_most_recent_keys_alive()
    {
        using var container = Container(inCode: false, resilience => resilience.ConfigureInstances(options => options.MaxInstances = 10));
        var pipelines = new Dictionary<string, ResiliencePipeline>();
        for (var i = 0; i < 500; i++)
        {
            pipelines[$"k{i}"] = container.Provider.GetPipeline("orders", $"k{i}");
            Assert.True(Instances(container).Count <= 10);
        }

        var recent = Enumerable.Range(490, 10).Select(i => $"k{i}").ToList();
        Assert.Equal(recent.Order(StringComparer.Ordinal), Instances(container));
        Assert.All(recent, key => Assert.Same(pipelines[key], container.Provider.GetPipeline("orders", key)));

        // A reload reaches the live ones only; the evicted are no longer updated.
        container.Change((Breaker + "FailureRatio", "0.7"));
        Assert.All(recent, key => Assert.Equal(0.7, BreakerOf(pipelines[key]).Options.FailureRatio));
        Assert.Equal(0.5, BreakerOf(pipelines["k0"]).Options.FailureRatio);
    }

    [Fact]
    public void The_cap_is_checked_with_a_message_naming_the_option_and_its_range()
    {
        var services = new ServiceCollection();

        var exception = Assert.Throws<ArgumentOutOfRangeException>(() => services.AddResilience().ConfigureInstances(options => options.MaxInstances = 0));

        Assert.StartsWith("PipelineInstanceOptions.MaxInstances must be in [1, 2147483647]; was 0.", exception.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Threads_asking_for_the_same_new_key_at_once_all_get_one_instance(bool inCode)
    {
        using var container = Container(inCode);
        const int Threads = 8;
        for (var round = 0; round < 20; round++)
        {
            var key = $"key-{round}";
            var got = new ResiliencePipeline[Threads];
            using var barrier = new Barrier(Threads);
            var threads = Enumerable.Range(0, Threads).Select(index => new Thread(() =>
            {
                barrier.SignalAndWait();
                got[index] = container.Provider.GetPipeline("orders", key);
            })).ToList();
            threads.ForEach(thread => thread.Start());
            threads.ForEach(thread => thread.Join());

            Assert.All(got, pipeline => Assert.Same(got[0], pipeline));
            Assert.Same(got[0], container.Provider.GetPipeline("orders", key));
        }

        Assert.Equal(20, Instances(container).Count);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Health_lists_each_instances_breaker_and_limiter_with_its_key(bool inCode)
    {
        using var container = Container(inCode);
        var a = container.Provider.GetPipeline("orders", "a");
        Fail(a, 2);
        container.Provider.GetPipeline("orders", "b");
        using var held = LimiterOf(a).AttemptAcquire();
        Assert.True(held.IsAcquired);

        var health = container.Provider.GetHealth();

        Assert.Equal(["a", "b"], health.Pipelines.Single(pipeline => pipeline.Name == "orders").Instances);
        var breakers = health.CircuitBreakers.Where(breaker => breaker.Name == "orders/CircuitBreaker").Select(breaker => (breaker.InstanceKey, breaker.State));
        Assert.Equal([(null, CircuitState.Closed), ("a", CircuitState.Open), ("b", CircuitState.Closed)], breakers);
        Assert.False(health.IsHealthy);

        // Each instance's limiter under the name of the single instance's, with the permits it has left.
        var single = health.RateLimiters.Single(limiter => limiter.InstanceKey is null && limiter.Name.StartsWith("orders/", StringComparison.Ordinal));
        var limiters = health.RateLimiters.Where(limiter => limiter.Name == single.Name).Select(limiter => (limiter.InstanceKey, limiter.AvailablePermits));
        Assert.Equal([(null, 2L), ("a", 1L), ("b", 2L)], limiters);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void An_instances_measurements_carry_its_key(bool inCode)
    {
        using var container = Container(inCode);
        using var calls = new MetricCollector<long>(container.Telemetry.Meter, "resilience.pipeline.calls");
        using var transitions = new MetricCollector<long>(container.Telemetry.Meter, "resilience.circuit_breaker.transitions");
        using var rejections = new MetricCollector<long>(container.Telemetry.Meter, "resilience.circuit_breaker.rejections");
        using var states = new MetricCollector<int>(container.Telemetry.Meter, "resilience.circuit_breaker.state");
        var pipeline = container.Provider.GetPipeline("orders", "a");

        Fail(pipeline, 3);
        container.Provider.GetPipeline("orders").Execute(static _ => 1);
        states.RecordObservableInstruments();

        Assert.Equal(
            [("a", "failure"), ("a", "failure"), ("a", "rejected"), (null, "success")],
            calls.GetMeasurementSnapshot().Select(m => (Tag(m.Tags, "pipeline.instance"), Tag(m.Tags, "outcome"))));
        var opened = Assert.Single(transitions.GetMeasurementSnapshot());
        Assert.Equal(("a", "orders/CircuitBreaker"), (Tag(opened.Tags, "pipeline.instance"), Tag(opened.Tags, "strategy")));
        Assert.Equal("a", Tag(Assert.Single(rejections.GetMeasurementSnapshot()).Tags, "pipeline.instance"));
        Assert.Contains(states.GetMeasurementSnapshot(), m => Tag(m.Tags, "pipeline.instance") == "a" && m.Value == (int)CircuitState.Open);
        Assert.Contains(states.GetMeasurementSnapshot(), m => !m.Tags.ContainsKey("pipeline.instance") && m.Value == (int)CircuitState.Closed);

        static string? Tag(IReadOnlyDictionary<string, object?> tags, string name) => tags.TryGetValue(name, out var value) ? (string?)value : null;
    }

    [Fact]
    public void Looking_up_a_live_instance_allocates_nothing()
    {
        using var container = Container(inCode: false);
        var keys = new[] { "a", "b", "c" };
        foreach (var key in keys)
        {
            container.Provider.GetPipeline("orders", key);
            container.Provider.GetPipeline<int>("orders", key);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            container.Provider.GetPipeline("orders", keys[i % 3]);
            container.Provider.GetPipeline<int>("orders", keys[i % 3]);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [MemberData(nameof(Registrations))]
    public void Disposing_the_provider_disposes_the_instances_limiters(bool inCode)
    {
        var container = Container(inCode);
        var limiter = LimiterOf(container.Provider.GetPipeline("orders", "a"));

        container.Dispose();

        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire());
    }

    [Fact]
    public void Unknown_names_and_wrong_result_types_fail_as_for_the_single_instance()
    {
        using var container = Container(inCode: true);

        Assert.Throws<KeyNotFoundException>(() => container.Provider.GetPipeline("missing", "a"));
        Assert.Throws<InvalidOperationException>(() => container.Provider.GetPipeline<int>("orders", "a"));
    }

    [Fact]
    public void The_code_of_a_pipeline_registered_in_code_is_told_the_instance_it_builds()
    {
        var seen = new List<string?>();
        using var container = new TestContainer(new Dictionary<string, string?>(), services =>
            services.AddResiliencePipeline("orders", (builder, context) =>
            {
                seen.Add(context.InstanceKey);
                builder.AddCircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 2 });
            }));

        var first = container.Provider.GetPipeline("orders", "a");
        Fail(first, 2);

        Assert.Equal([null, "a"], seen);

        // A breaker the code creates itself is the instance's.
        Assert.Equal(CircuitState.Open, BreakerOf(first).State);
        Assert.Equal(CircuitState.Closed, BreakerOf(container.Provider.GetPipeline("orders")).State);
        Assert.Contains(container.Provider.GetHealth().CircuitBreakers, breaker => breaker.InstanceKey == "a" && breaker.Name == "orders/CircuitBreaker");
    }

    private static List<string> Instances(TestContainer container) =>
        [.. container.Provider.GetHealth().Pipelines.Single(pipeline => pipeline.Name == "orders").Instances];
}
