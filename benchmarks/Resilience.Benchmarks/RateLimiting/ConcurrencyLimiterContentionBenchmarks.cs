using System.Threading.RateLimiting;
using BenchmarkDotNet.Attributes;
using Polly;

namespace Resilience.Benchmarks.RateLimiting;

/// <summary>
/// Acquire and release one concurrency permit through a pipeline (ours with our limiter; Polly.RateLimiting with the
/// BCL's limiter), on one thread and with two threads on one limiter (time per call = total wall time / total calls):
/// a limiter guarding a dependency is shared by every thread that calls it.
/// </summary>
[MemoryDiagnoser]
public class ConcurrencyLimiterContentionBenchmarks
{
    private const int CallsPerInvoke = 100_000;

    private static readonly Func<int, CancellationToken, ValueTask<int>> AsyncCall = static (s, _) => new ValueTask<int>(s + 1);

    private ResiliencePipeline _ours = null!;
    private Polly.ResiliencePipeline _polly = null!;

    /// <summary>Gets or sets how many threads share the limiter.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ours = new ResiliencePipelineBuilder().AddRateLimiter(new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 100 })).Build();
        _polly = new Polly.ResiliencePipelineBuilder()
            .AddRateLimiter(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = 100 }))
            .Build();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = CallsPerInvoke)]
    public void Polly_with_bcl_limiter() => ParallelCalls.Run(this, Threads, CallsPerInvoke, static (pipelines, calls) =>
    {
        for (var i = 0; i < calls; i++)
        {
            pipelines._polly.ExecuteAsync(AsyncCall, i).GetAwaiter().GetResult();
        }
    });

    [Benchmark(OperationsPerInvoke = CallsPerInvoke)]
    public void Ours_pipeline() => ParallelCalls.Run(this, Threads, CallsPerInvoke, static (pipelines, calls) =>
    {
        for (var i = 0; i < calls; i++)
        {
            pipelines._ours.ExecuteAsync(AsyncCall, i).GetAwaiter().GetResult();
        }
    });
}
