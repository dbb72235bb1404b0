using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Resilience.DependencyInjection;
using Resilience.Telemetry;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Telemetry;

public sealed class PartitionedLimiterTelemetryTests : IDisposable
{
    private static readonly Dictionary<string, string?> NoSettings = [];

    private readonly ResilienceTelemetry _telemetry = new();

    public void Dispose() => _telemetry.Dispose();

    private static BoundedPartitionedLimiter<int> Limiter(int maxPartitions) =>
        new(_ => new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 1 }), maxPartitions);

    private static void Touch(BoundedPartitionedLimiter<int> limiter, params int[] keys)
    {
        foreach (var key in keys)
        {
            limiter.AttemptAcquire(key).Dispose();
        }
    }

    [Fact]
    public void Live_created_and_evicted_partitions_are_read_when_collected_under_the_strategy_tag_only()
    {
        using var limiter = Limiter(maxPartitions: 4);
        using var registration = _telemetry.Track(limiter, "tenants");
        using var live = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.partitions");
        using var created = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.partitions_created");
        using var evicted = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.partitions_evicted");

        Touch(limiter, 1, 2, 3, 1, 2);
        live.RecordObservableInstruments();
        created.RecordObservableInstruments();
        evicted.RecordObservableInstruments();
        Assert.Equal((3L, 3L, 0L), (live.LastMeasurement!.Value, created.LastMeasurement!.Value, evicted.LastMeasurement!.Value));

        // The fifth key passes the cap of 4: the trim keeps three quarters of it, the newest partition among them.
        Touch(limiter, 4, 5);
        live.RecordObservableInstruments();
        created.RecordObservableInstruments();
        evicted.RecordObservableInstruments();
        Assert.Equal((3L, 5L, 2L), (live.LastMeasurement!.Value, created.LastMeasurement!.Value, evicted.LastMeasurement!.Value));
        Assert.Equal((limiter.Count, limiter.PartitionsCreated, limiter.PartitionsEvicted), (3, 5L, 2L));

        // One series per limiter, never one per key.
        Assert.All(
            live.GetMeasurementSnapshot().Concat(created.GetMeasurementSnapshot()).Concat(evicted.GetMeasurementSnapshot()),
            measurement => Assert.Equal([new KeyValuePair<string, object?>("strategy", "tenants")], measurement.Tags));
    }

    [Fact]
    public void A_disposed_or_untracked_partitioned_limiter_leaves_the_gauges_and_tracking_twice_reports_once()
    {
        var gone = Limiter(maxPartitions: 10);
        using var kept = Limiter(maxPartitions: 10);
        var registration = _telemetry.Track(gone, "gone");
        using var twice = _telemetry.Track(gone, "gone-again");
        using var keptRegistration = _telemetry.Track(kept, "kept");
        using var live = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.partitions");
        Touch(gone, 1, 2);
        Touch(kept, 1);

        live.RecordObservableInstruments();
        Assert.Equal([("gone", 2L), ("kept", 1L)], live.GetMeasurementSnapshot().Select(m => ((string)m.Tags["strategy"]!, m.Value)).Order());

        // Disposal empties the partitions without counting them down: a stale count would be reported for good.
        gone.Dispose();
        live.Clear();
        live.RecordObservableInstruments();
        Assert.Equal(("kept", 1L), ((string)Assert.Single(live.GetMeasurementSnapshot()).Tags["strategy"]!, live.LastMeasurement!.Value));

        registration.Dispose();
        keptRegistration.Dispose();
        live.Clear();
        live.RecordObservableInstruments();
        Assert.Empty(live.GetMeasurementSnapshot());
    }

    [Fact]
    public void Disposed_telemetry_reports_no_partitions_and_tracks_none_after()
    {
        var telemetry = new ResilienceTelemetry();
        using var limiter = Limiter(maxPartitions: 10);
        using var before = telemetry.Track(limiter, "tenants");
        using var live = new MetricCollector<long>(telemetry.Meter, "resilience.rate_limiter.partitions");
        Touch(limiter, 1);
        live.RecordObservableInstruments();
        Assert.Single(live.GetMeasurementSnapshot());

        telemetry.Dispose();
        using var after = telemetry.Track(limiter, "tenants");
        live.Clear();
        live.RecordObservableInstruments();

        Assert.Empty(live.GetMeasurementSnapshot());
    }

    [Fact]
    public async Task A_partitioned_strategy_is_named_PartitionedRateLimiter_in_its_rejections_by_default()
    {
        using var limiter = Limiter(maxPartitions: 10);
        using var rejections = new MetricCollector<long>(_telemetry.Meter, "resilience.rate_limiter.rejections");
        var pipeline = new ResiliencePipelineBuilder { Name = "api" }.AddTelemetry(_telemetry).AddRateLimiter(limiter, () => 7).Build();
        using var held = limiter.AttemptAcquire(7);

        await Assert.ThrowsAsync<RateLimiterRejectedException>(() => pipeline.ExecuteAsync(_ => ValueTask.CompletedTask).AsTask());

        var rejection = Assert.Single(rejections.GetMeasurementSnapshot());
        Assert.Equal(("api", "PartitionedRateLimiter", "rate_limited"), ((string)rejection.Tags["pipeline"]!, (string)rejection.Tags["strategy"]!, (string)rejection.Tags["reason"]!));
        Assert.Equal("PartitionedRateLimiter", Assert.Single(pipeline.Strategies.OfType<PartitionedRateLimiterStrategy<int>>()).Name);
    }

    [Fact]
    public void A_container_lists_partitioned_limiters_in_health_and_tracks_them_as_pipeline_slash_strategy()
    {
        using var bounded = Limiter(maxPartitions: 100);
        using var created = PartitionedRateLimiter.Create<int, int>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions { PermitLimit = 1 }));
        using var container = new TestContainer(NoSettings, services => services
            .AddResiliencePipeline("tenants", (builder, _) => builder.AddRateLimiter(bounded, () => 1))
            .AddResiliencePipeline("hosts", (builder, _) => builder.AddRateLimiter(created, () => 1, name: "per-host")));
        using var live = new MetricCollector<long>(container.Telemetry.Meter, "resilience.rate_limiter.partitions");
        var pipeline = container.Provider.GetPipeline("tenants");
        _ = container.Provider.GetPipeline("hosts");
        pipeline.Execute(_ => { });
        Touch(bounded, 2, 3);

        var health = container.Provider.GetHealth();
        live.RecordObservableInstruments();

        Assert.Equal(
            [("hosts/per-host", null, null, null, null), ("tenants/PartitionedRateLimiter", 3, 100, 3L, 0L)],
            health.PartitionedRateLimiters.Select(l => (l.Name, l.Partitions, l.MaxPartitions, l.PartitionsCreated, l.PartitionsEvicted)));
        Assert.Empty(health.RateLimiters);
        Assert.Equal("PartitionedRateLimiter", health.Pipelines.Single(p => p.Name == "tenants").Strategies[^1]);

        // A limiter that counts no partitions has no gauge: no made-up zero.
        Assert.Equal(("tenants/PartitionedRateLimiter", 3L), ((string)Assert.Single(live.GetMeasurementSnapshot()).Tags["strategy"]!, live.LastMeasurement!.Value));
    }

    [Fact]
    public void Health_leaves_out_a_partitioned_limiter_its_pipelines_code_disposed()
    {
        var bounded = Limiter(maxPartitions: 100);
        using var container = new TestContainer(NoSettings, services => services
            .AddResiliencePipeline("tenants", (builder, _) => builder.AddRateLimiter(bounded, () => 1)));
        container.Provider.GetPipeline("tenants").Execute(_ => { });
        Assert.Single(container.Provider.GetHealth().PartitionedRateLimiters);

        bounded.Dispose();

        Assert.Empty(container.Provider.GetHealth().PartitionedRateLimiters);
    }
}
