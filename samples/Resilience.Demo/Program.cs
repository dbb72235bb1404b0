using System.Diagnostics;
using System.Globalization;
using Resilience;
using Resilience.Demo;

// A scripted run against an in-process dependency that is healthy, then failing and slow, then recovering, through
// fallback + retry (with a budget) + circuit breaker + concurrency limiter + timeout. Options: --duration <seconds>, --seed <n>.
var duration = TimeSpan.FromSeconds(ReadOption(args, "--duration", 10));
var seed = (int)ReadOption(args, "--seed", 42);
var dependency = new SimulatedDependency(seed, duration, TimeProvider.System);

var breaker = new CircuitBreaker(new CircuitBreakerOptions
{
    Name = "orders-api",
    FailureRatio = 0.5,
    MinimumThroughput = 20,
    SamplingDuration = TimeSpan.FromSeconds(2),
    BreakDuration = TimeSpan.FromMilliseconds(800),
    BreakDurationMultiplier = 1.5,
    MaxBreakDuration = TimeSpan.FromSeconds(3),
    PermittedProbes = 3,
    SlowCallDuration = TimeSpan.FromMilliseconds(40),
    SlowCallRatio = 0.8,
    JitterSeed = seed,
});
var clock = Stopwatch.StartNew();
string Elapsed() => clock.Elapsed.TotalSeconds.ToString("0.0s", CultureInfo.InvariantCulture);

var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 20, TokenRatio = 0.2 });
var counters = new Counters();
breaker.Transitioned += (_, t) => Console.WriteLine($"  [{Elapsed()}] breaker {t.From} -> {t.To} ({t.Reason}; window {t.Window.Calls} calls, {t.Window.FailureRatio:P0} failed)");
var pipeline = new ResiliencePipelineBuilder<string> { Name = "orders" }
    .AddFallback(new FallbackOptions<string>
    {
        Levels = { FallbackLevel<string>.FromFactory("placeholder", fallback => { counters.CountCause(fallback.Failure); return "order-unavailable"; }) },
    })
    .AddRetry(new RetryOptions { MaxRetryAttempts = 2, Delay = TimeSpan.FromMilliseconds(5), Budget = budget, JitterSeed = seed })
    .AddCircuitBreaker(breaker)
    .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 8 })
    .AddTimeout(TimeSpan.FromMilliseconds(100))
    .Build();

Console.WriteLine($"Resilience demo: {duration.TotalSeconds:0} s against a simulated dependency (seed {seed}).");
Console.WriteLine("Pipeline: fallback -> retry (budget) -> circuit breaker -> concurrency limit (8) -> timeout (100 ms)");

using var stop = new CancellationTokenSource(duration);
var workers = Enumerable.Range(0, 6).Select(worker => Task.Run(async () =>
{
    var request = worker * 1_000_000;
    while (!stop.IsCancellationRequested)
    {
        request++;
        var outcome = await pipeline.ExecuteOutcomeAsync(
            static (state, ct) => state.Dependency.CallAsync(state.Request, ct),
            (Dependency: dependency, Request: request));
        counters.Count(outcome);
        if (!outcome.IsSuccess)
        {
            Console.WriteLine($"  [{Elapsed()}] unexpected failure: {outcome.Exception!.Message}");
        }

        await Task.Delay(2);
    }
}));

var progress = Task.Run(async () =>
{
    while (!stop.IsCancellationRequested)
    {
        await Task.Delay(1000);
        Console.WriteLine($"  [{Elapsed()}] {dependency.Phase,-10} breaker {breaker.State,-8} {counters}");
    }
});

await Task.WhenAll(workers);
await progress;

Console.WriteLine();
Console.WriteLine("| outcome                   | calls |");
Console.WriteLine("|---------------------------|------:|");
Console.WriteLine($"| total                     | {counters.Total,5} |");
Console.WriteLine($"| succeeded                 | {counters.Succeeded,5} |");
Console.WriteLine($"| served by fallback        | {counters.Degraded,5} |");
Console.WriteLine($"|   circuit open            | {counters.BrokenCircuit,5} |");
Console.WriteLine($"|   concurrency limit       | {counters.Limited,5} |");
Console.WriteLine($"|   timeout                 | {counters.TimedOut,5} |");
Console.WriteLine($"|   dependency error        | {counters.DependencyErrors,5} |");
Console.WriteLine($"| failed (no fallback)      | {counters.Failed,5} |");
Console.WriteLine($"| retry budget left         | {budget.Balance,5:0.#} |");
return 0;

static double ReadOption(string[] args, string name, double fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length && double.TryParse(args[index + 1], CultureInfo.InvariantCulture, out var value) && value > 0
        ? value
        : fallback;
}
