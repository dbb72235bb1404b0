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
    private const int Calls = 400_000;

    /// <summary>Gets or sets how many threads call the breaker at once.</summary>
    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    /// <summary>Gets the thread counts measured: 1, 2 and the machine's processor count.</summary>
    public static IEnumerable<int> ThreadCounts => new[] { 1, 2, Environment.ProcessorCount }.Distinct();

    [GlobalSetup]
    public void Setup() => Build();

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls)]
    public void Polly_pipeline() => Run(() =>
    {
        for (var i = 0; i < Calls / Threads; i++)
        {
            PollyPipeline.Execute(static s => s + 1, i);
        }
    });

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Ours_pipeline() => Run(() =>
    {
        for (var i = 0; i < Calls / Threads; i++)
        {
            OurPipeline.Execute(SyncCall, i);
        }
    });

    [Benchmark(OperationsPerInvoke = Calls)]
    public void Ours_standalone() => Run(() =>
    {
        for (var i = 0; i < Calls / Threads; i++)
        {
            Breaker.TryAcquire(out var permit);
            Breaker.Record(permit, CircuitCallResult.Success);
        }
    });

    // Dedicated threads, so every share runs at once (a parallel loop may run two short shares one after the other on
    // one thread). Starting them costs well under 1 % of an invocation.
    private void Run(Action body)
    {
        var others = new Thread[Threads - 1];
        for (var i = 0; i < others.Length; i++)
        {
            others[i] = new Thread(() => body());
            others[i].Start();
        }

        body();
        foreach (var thread in others)
        {
            thread.Join();
        }
    }
}
