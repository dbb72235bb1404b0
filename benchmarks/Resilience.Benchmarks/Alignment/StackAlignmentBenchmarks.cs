using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Polly;
using Resilience.Benchmarks.CircuitBreaker;
using Resilience.Benchmarks.Pipeline;

namespace Resilience.Benchmarks.Alignment;

/// <summary>
/// The same calls at four depths of the stack, 16 bytes apart: one pass-through strategy and a closed breaker, ours and
/// Polly v8's. The operating system starts each process's stack at a random 16-byte offset within a page, so a
/// benchmark process measures a call at one alignment of its frame to the 64-byte cache line, drawn at random: a frame
/// the runtime zeroes with wide vector stores costs more when those stores straddle cache lines. Four offsets cover
/// the four alignments within one process; their mean is the typical cost, their spread what one run may show.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class StackAlignmentBenchmarks
{
    private static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;

    private ResiliencePipeline _oursOne = null!;
    private Polly.ResiliencePipeline _pollyOne = null!;
    private ResiliencePipeline _oursBreaker = null!;
    private Polly.ResiliencePipeline _pollyBreaker = null!;

    /// <summary>Gets or sets how many bytes deeper than the benchmark method the call runs.</summary>
    [Params(0, 16, 32, 48)]
    public int StackOffset { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _oursOne = new ResiliencePipelineBuilder().AddStrategy(new PassThroughStrategy()).Build();
        _pollyOne = Polly.ResiliencePipelineBuilderExtensions
            .AddStrategy(new Polly.ResiliencePipelineBuilder(), _ => new PollyPassThroughStrategy(), new PollyPassThroughOptions())
            .Build();

        // The options of the breaker benchmarks: ratio 0.5 over 10 s, 20 calls minimum, a break that outlasts a run.
        _oursBreaker = new ResiliencePipelineBuilder().AddCircuitBreaker(CircuitBreakerBenchmark.OurOptions()).Build();
        _pollyBreaker = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(CircuitBreakerBenchmark.PollyOptions()).Build();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("one strategy")]
    [SkipLocalsInit]
    public int Polly_one_strategy()
    {
        Span<byte> pad = stackalloc byte[StackOffset];
        return Deeper.Polly(_pollyOne, pad.Length);
    }

    [Benchmark, BenchmarkCategory("one strategy")]
    [SkipLocalsInit]
    public int Ours_one_strategy()
    {
        Span<byte> pad = stackalloc byte[StackOffset];
        return Deeper.Ours(_oursOne, pad.Length);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("closed breaker")]
    [SkipLocalsInit]
    public int Polly_closed_breaker()
    {
        Span<byte> pad = stackalloc byte[StackOffset];
        return Deeper.Polly(_pollyBreaker, pad.Length);
    }

    [Benchmark, BenchmarkCategory("closed breaker")]
    [SkipLocalsInit]
    public int Ours_closed_breaker()
    {
        Span<byte> pad = stackalloc byte[StackOffset];
        return Deeper.Ours(_oursBreaker, pad.Length);
    }

    /// <summary>The calls, each in a frame of its own below the padding.</summary>
    private static class Deeper
    {
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static int Ours(ResiliencePipeline pipeline, int state) => pipeline.Execute(SyncCall, state);

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static int Polly(Polly.ResiliencePipeline pipeline, int state) => pipeline.Execute(static s => s + 1, state);
    }
}
