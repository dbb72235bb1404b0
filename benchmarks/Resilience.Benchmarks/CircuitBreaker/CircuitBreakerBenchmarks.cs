using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Polly.CircuitBreaker;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>
/// A closed breaker on the success path (through a pipeline, sync and async, and standalone) and an open breaker
/// rejecting through the non-throwing form, against Polly v8's breaker with equivalent options.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class CircuitBreakerBenchmarks
{
    private static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;
    private static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    private Resilience.CircuitBreaker _breaker = null!;
    private ResiliencePipeline _closed = null!;
    private ResiliencePipeline _open = null!;
    private Polly.ResiliencePipeline _pollyClosed = null!;
    private Polly.ResiliencePipeline _pollyOpen = null!;

    [GlobalSetup]
    public void Setup()
    {
        _breaker = new Resilience.CircuitBreaker(Options());
        _closed = new ResiliencePipelineBuilder().AddCircuitBreaker(_breaker).Build();
        var openBreaker = new Resilience.CircuitBreaker(Options());
        _open = new ResiliencePipelineBuilder().AddCircuitBreaker(openBreaker).Build();
        _pollyClosed = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(PollyOptions()).Build();
        _pollyOpen = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(PollyOptions()).Build();

        for (var i = 0; i < 20; i++)
        {
            _open.ExecuteOutcome<int, int>(static (_, _) => throw new InvalidOperationException(), 0);
            try
            {
                _pollyOpen.Execute(static () => throw new InvalidOperationException());
            }
            catch (InvalidOperationException)
            {
            }
        }

        if (openBreaker.State != CircuitState.Open)
        {
            throw new InvalidOperationException("The breaker under test did not open.");
        }
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed, sync")]
    public int Polly_closed_sync() => _pollyClosed.Execute(static s => s + 1, 1);

    [Benchmark, BenchmarkCategory("closed, sync")]
    public int Ours_closed_sync() => _closed.Execute(SyncCall, 1);

    [Benchmark, BenchmarkCategory("closed, sync")]
    public int Ours_standalone_acquire_record()
    {
        var permit = _breaker.TryAcquire();
        _breaker.Record(permit, CircuitCallResult.Success);
        return permit.IsAcquired ? 1 : 0;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed, async")]
    public int Polly_closed_async() => _pollyClosed.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark, BenchmarkCategory("closed, async")]
    public int Ours_closed_async() => _closed.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("open, outcome")]
    public bool Polly_open_outcome()
    {
        var context = ResilienceContextPool.Shared.Get();
        var outcome = _pollyOpen.ExecuteOutcomeAsync(static (_, s) => Polly.Outcome.FromResultAsValueTask(s), context, 1).Result;
        ResilienceContextPool.Shared.Return(context);
        return outcome.Exception is not null;
    }

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome() => _open.ExecuteOutcome(SyncCall, 1).IsRejected;

    [Benchmark, BenchmarkCategory("open, outcome")]
    public bool Ours_open_outcome_async() => _open.ExecuteOutcomeAsync(AsyncCall, 1).Result.IsRejected;

    internal static CircuitBreakerOptions Options() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };

    internal static CircuitBreakerStrategyOptions PollyOptions() => new()
    {
        FailureRatio = 0.5,
        MinimumThroughput = 20,
        SamplingDuration = TimeSpan.FromSeconds(10),
        BreakDuration = TimeSpan.FromMinutes(5),
    };
}
