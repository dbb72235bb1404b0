using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Resilience.Benchmarks.Pipeline;

/// <summary>
/// What the engine costs: a direct call, an empty pipeline, and pipelines of one and five pass-through strategies,
/// against Polly v8 pipelines of the same shape, synchronous and asynchronous.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class PipelineBenchmarks
{
    private static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;
    private static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    private ResiliencePipeline _ours = null!;
    private Polly.ResiliencePipeline _polly = null!;

    /// <summary>Gets or sets how many pass-through strategies the pipelines hold.</summary>
    [Params(0, 1, 5)]
    public int Strategies { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var ours = new ResiliencePipelineBuilder();
        var polly = new Polly.ResiliencePipelineBuilder();
        for (var i = 0; i < Strategies; i++)
        {
            ours.AddStrategy(new PassThroughStrategy());
            Polly.ResiliencePipelineBuilderExtensions.AddStrategy(polly, _ => new PollyPassThroughStrategy(), new PollyPassThroughOptions());
        }

        _ours = ours.Build();
        _polly = polly.Build();
    }

    [Benchmark, BenchmarkCategory("sync")]
    public int Direct_sync() => SyncCall(1, CancellationToken.None);

    [Benchmark, BenchmarkCategory("sync")]
    public int Ours_sync() => _ours.Execute(SyncCall, 1);

    [Benchmark(Baseline = true), BenchmarkCategory("sync")]
    public int Polly_sync() => _polly.Execute(static s => s + 1, 1);

    [Benchmark, BenchmarkCategory("sync")]
    public int Ours_outcome_sync() => _ours.ExecuteOutcome(SyncCall, 1).Result;

    [Benchmark, BenchmarkCategory("async")]
    public int Direct_async() => AsyncCall(1, CancellationToken.None).Result;

    [Benchmark, BenchmarkCategory("async")]
    public int Ours_async() => _ours.ExecuteAsync(AsyncCall, 1).Result;

    [Benchmark(Baseline = true), BenchmarkCategory("async")]
    public int Polly_async() => _polly.ExecuteAsync(AsyncCall, 1).Result;
}
