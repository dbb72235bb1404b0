using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Resilience.CircuitBreaker;
using static Resilience.Benchmarks.CircuitBreaker.CircuitBreakerSetup;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>An open breaker rejecting through the non-throwing forms (no exception is created), against Polly v8's <c>ExecuteOutcomeAsync</c>.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CircuitBreakerOpenBenchmarks
{
    private Resilience.CircuitBreaker.CircuitBreaker _breaker = null!;
    private ResiliencePipeline _ours = null!;
    private Polly.ResiliencePipeline _polly = null!;

    [GlobalSetup]
    public void Setup()
    {
        _breaker = new Resilience.CircuitBreaker.CircuitBreaker(BreakerOptions());
        _ours = new ResiliencePipelineBuilder().AddCircuitBreaker(_breaker).Build();
        _polly = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(PollyOptions()).Build();
        for (var i = 0; i < 20; i++)
        {
            _ours.ExecuteOutcome<int, int>(static (_, _) => throw new InvalidOperationException(), 0);
            try
            {
                _polly.Execute(static () => throw new InvalidOperationException());
            }
            catch (InvalidOperationException)
            {
            }
        }

        if (_breaker.State != CircuitState.Open || _ours.ExecuteOutcome(SyncCall, 1).IsSuccess || Polly_open_outcome() is false)
        {
            throw new InvalidOperationException("The breakers under test did not open.");
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("open, outcome")]
    public bool Polly_open_outcome()
    {
        var context = ResilienceContextPool.Shared.Get();
        var outcome = _polly.ExecuteOutcomeAsync(static (_, s) => Polly.Outcome.FromResultAsValueTask(s), context, 1).Result;
        ResilienceContextPool.Shared.Return(context);
        return outcome.Exception is not null;
    }

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome_sync() => _ours.ExecuteOutcome(SyncCall, 1).IsRejected;

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome_async() => _ours.ExecuteOutcomeAsync(AsyncCall, 1).Result.IsRejected;

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_standalone() => !_breaker.TryAcquire(out _);
}
