using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>An open breaker rejecting through the non-throwing forms (no exception is created), against Polly v8's <c>ExecuteOutcomeAsync</c>.</summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CircuitBreakerOpenBenchmarks : CircuitBreakerBenchmark
{
    [GlobalSetup]
    public void Setup()
    {
        Build();
        for (var i = 0; i < 20; i++)
        {
            OurPipeline.ExecuteOutcome<int, int>(static (_, _) => throw new InvalidOperationException(), 0);
            try
            {
                PollyPipeline.Execute(static () => throw new InvalidOperationException());
            }
            catch (InvalidOperationException)
            {
            }
        }

        if (Breaker.State != CircuitState.Open || !Ours_open_outcome_sync() || !Polly_open_outcome())
        {
            throw new InvalidOperationException("The breakers under test did not open.");
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("open, outcome")]
    public bool Polly_open_outcome()
    {
        var context = ResilienceContextPool.Shared.Get();
        var outcome = PollyPipeline.ExecuteOutcomeAsync(static (_, s) => global::Polly.Outcome.FromResultAsValueTask(s), context, 1).Result;
        ResilienceContextPool.Shared.Return(context);
        return outcome.Exception is not null;
    }

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome_sync() => OurPipeline.ExecuteOutcome(SyncCall, 1).IsRejected;

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome_async() => OurPipeline.ExecuteOutcomeAsync(AsyncCall, 1).Result.IsRejected;

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_standalone() => !Breaker.TryAcquire(out _);
}
