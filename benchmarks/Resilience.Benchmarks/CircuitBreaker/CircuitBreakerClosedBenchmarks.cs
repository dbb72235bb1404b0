using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Resilience.CircuitBreaker;
using static Resilience.Benchmarks.CircuitBreaker.CircuitBreakerSetup;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>A closed breaker on the success path: through a pipeline (sync and async) and standalone, against Polly v8's breaker.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CircuitBreakerClosedBenchmarks
{
    private Resilience.CircuitBreaker.CircuitBreaker _breaker = null!;
    private ResiliencePipeline _ours = null!;
    private Polly.ResiliencePipeline _polly = null!;

    [GlobalSetup]
    public void Setup()
    {
        _breaker = new Resilience.CircuitBreaker.CircuitBreaker(BreakerOptions());
        _ours = new ResiliencePipelineBuilder().AddCircuitBreaker(BreakerOptions()).Build();
        _polly = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(PollyOptions()).Build();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed, sync")]
    public int Polly_closed_sync() => _polly.Execute(static s => s + 1, 1);

    [Benchmark, BenchmarkCategory("closed, sync")]
    public int Ours_closed_sync() => _ours.Execute(SyncCall, 1);

    /// <summary>No pipeline: the message-consumer form. Polly has none; its pipeline is the reference.</summary>
    [Benchmark, BenchmarkCategory("closed, sync")]
    public bool Ours_standalone_acquire_record()
    {
        var acquired = _breaker.TryAcquire(out var permit);
        _breaker.Record(permit, CircuitCallResult.Success);
        return acquired;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed, async")]
    public int Polly_closed_async() => _polly.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark, BenchmarkCategory("closed, async")]
    public int Ours_closed_async() => _ours.ExecuteAsync(AsyncCall, 1).Result;
}
