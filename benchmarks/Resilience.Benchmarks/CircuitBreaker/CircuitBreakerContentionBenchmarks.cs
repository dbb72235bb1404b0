using BenchmarkDotNet.Attributes;

namespace Resilience.Benchmarks.CircuitBreaker;

/// <summary>
/// Several threads calling one closed breaker. Each operation is one call; the reported time is total wall time divided
/// by total calls, so a breaker that scales shows a time per call that falls as threads are added, and one whose state
/// bounces between cores shows it rising.
/// </summary>
[MemoryDiagnoser]
public class CircuitBreakerContentionBenchmarks : CircuitBreakerBenchmark
{
    // Enough calls that starting the second share (waking a pool thread: up to milliseconds on a busy virtual machine)
    // is a small part of an invocation.
    private const int Calls = 4_000_000;

    /// <summary>Gets or sets how many threads call the breaker at once.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Gets the thread counts measured: 1, 2 and the machine's processor count.</summary>
    public static IEnumerable<int> ThreadCounts => new[] { 1, 2, Environment.ProcessorCount }.Distinct();

    [GlobalSetup]
    public void Setup() => Build();

    // The threads are the caller's and the thread pool's, kept from one invocation to the next as a service's are: a
    // thread started per invocation would take a new thread number each time (see ThreadSlot), given back only when a
    // collection finalizes its predecessor, and record in the breaker's shared cells meanwhile.
    [Benchmark(Baseline = true, OperationsPerInvoke = Calls)]
    public void Polly_pipeline() => ParallelCalls.Run(this, Threads, Calls, static (benchmark, calls) =>
    {
        for (var i = 0; i < calls; i++)
        {
            benchmark.PollyPipeline.Execute(static s => s + 1, i);
        }
    });

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Ours_pipeline() => ParallelCalls.Run(this, Threads, Calls, static (benchmark, calls) =>
    {
        for (var i = 0; i < calls; i++)
        {
            benchmark.OurPipeline.Execute(SyncCall, i);
        }
    });

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Ours_standalone() => ParallelCalls.Run(this, Threads, Calls, static (benchmark, calls) =>
    {
        for (var i = 0; i < calls; i++)
        {
            benchmark.Breaker.TryAcquire(out var permit);
            benchmark.Breaker.Record(permit, CircuitCallResult.Success);
        }
    });
}
