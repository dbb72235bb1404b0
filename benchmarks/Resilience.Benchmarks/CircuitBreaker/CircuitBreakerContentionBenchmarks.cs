using BenchmarkDotNet.Attributes;
using Polly;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>
/// Several threads calling one closed breaker through a pipeline. Each operation is one call; the reported time is
/// total wall time divided by total calls, so a breaker that scales shows a time per call that falls as threads rise.
/// </summary>
[MemoryDiagnoser]
public class CircuitBreakerContentionBenchmarks
{
    private const int CallsPerThread = 200_000;
    private static readonly Func<int, CancellationToken, int> SyncCall = static (s, _) => s + 1;

    private ResiliencePipeline _ours = null!;
    private Polly.ResiliencePipeline _polly = null!;

    /// <summary>Gets or sets how many threads call the breaker at once.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Gets the thread counts measured: 1, 2 and the machine's processor count.</summary>
    public static IEnumerable<int> ThreadCounts => new[] { 1, 2, Environment.ProcessorCount }.Distinct();

    [GlobalSetup]
    public void Setup()
    {
        _ours = new ResiliencePipelineBuilder().AddCircuitBreaker(CircuitBreakerBenchmarks.Options()).Build();
        _polly = new Polly.ResiliencePipelineBuilder().AddCircuitBreaker(CircuitBreakerBenchmarks.PollyOptions()).Build();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerThread)]
    public void Polly_closed() => Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ =>
    {
        for (var i = 0; i < CallsPerThread / Threads; i++)
        {
            _polly.Execute(static s => s + 1, i);
        }
    });

    [Benchmark(OperationsPerInvoke = CallsPerThread)]
    public void Ours_closed() => Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, _ =>
    {
        for (var i = 0; i < CallsPerThread / Threads; i++)
        {
            _ours.Execute(SyncCall, i);
        }
    });
}
