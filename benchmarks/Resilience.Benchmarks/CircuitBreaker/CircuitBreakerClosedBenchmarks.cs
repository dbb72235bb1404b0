using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>A closed breaker on the success path: through a pipeline (sync and async) and standalone, against Polly v8's breaker.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CircuitBreakerClosedBenchmarks : CircuitBreakerBenchmark
{
    [GlobalSetup]
    public void Setup() => Build();

    [Benchmark(Baseline = true), BenchmarkCategory("closed, sync")]
    public int Polly_closed_sync() => PollyPipeline.Execute(static s => s + 1, 1);

    [Benchmark, BenchmarkCategory("closed, sync")]
    public int Ours_closed_sync() => OurPipeline.Execute(SyncCall, 1);

    /// <summary>No pipeline: the message-consumer form. Polly has none; its pipeline is the reference.</summary>
    [Benchmark, BenchmarkCategory("closed, sync")]
    public bool Ours_standalone_acquire_record()
    {
        var acquired = Breaker.TryAcquire(out var permit);
        Breaker.Record(permit, CircuitCallResult.Success);
        return acquired;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed, async")]
    public int Polly_closed_async() => PollyPipeline.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark, BenchmarkCategory("closed, async")]
    public int Ours_closed_async() => OurPipeline.ExecuteAsync(AsyncCall, 1).Result;
}
