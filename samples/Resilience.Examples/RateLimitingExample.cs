using System.Threading.RateLimiting;

namespace Resilience.Examples;

/// <summary>
/// A token bucket that refuses with a retry-after, a concurrency limiter with a queue, and a limit per tenant.
/// </summary>
public sealed class RateLimitingExample : IExample
{
    private static readonly AsyncLocal<string?> CurrentTenant = new();

    /// <inheritdoc />
    public string Name => "rate-limiting";

    /// <inheritdoc />
    public string Summary => "token bucket with retry-after, concurrency limiter with a queue, a limit per tenant";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        await TokenBucketAsync(output, cancellationToken);
        output.WriteLine();
        await ConcurrencyLimiterAsync(output, cancellationToken);
        output.WriteLine();
        await PerTenantAsync(output, cancellationToken);
    }

    private static async Task TokenBucketAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var search = new SimulatedDependency("search");
        var pipeline = new ResiliencePipelineBuilder { Name = "search" }
            .AddRateLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 1, Burst = 3 })
            .Build();

        output.WriteLine("Token bucket: a burst of 3 requests, then 1 a second. Five requests arrive at once.");
        Rejection refusal = default;
        for (var request = 1; request <= 5; request++)
        {
            var outcome = await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("query", ct), search, cancellationToken);
            if (outcome.IsRejected)
            {
                refusal = outcome.Rejection;
                output.WriteLine($"Request {request} was refused ({refusal.Reason}); a permit will be there in {Math.Ceiling(refusal.RetryAfter.GetValueOrDefault().TotalMilliseconds):0} ms.");
            }
            else
            {
                output.WriteLine($"Request {request} was admitted.");
            }
        }

        // The retry-after is exact: waiting it (plus a margin for the clock's tick) is enough for one more permit.
        await Task.Delay(refusal.RetryAfter.GetValueOrDefault() + TimeSpan.FromMilliseconds(50), cancellationToken);
        var retried = await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("query", ct), search, cancellationToken);
        output.WriteLine($"After waiting the retry-after, request 6 was {(retried.IsSuccess ? "admitted" : "refused")}.");
        output.WriteLine($"The search service received {search.Calls} requests.");
    }

    private static async Task ConcurrencyLimiterAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "reports" }
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 2, QueueLimit = 1 })
            .Build();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new List<int>();

        output.WriteLine("Concurrency limiter: 2 reports at once, 1 more may wait in the queue. Four reports are requested.");
        var reports = new List<Task<Outcome<int>>>();
        for (var report = 1; report <= 4; report++)
        {
            reports.Add(pipeline.ExecuteOutcomeAsync(
                async (number, ct) =>
                {
                    lock (started)
                    {
                        started.Add(number);
                    }

                    await release.Task.WaitAsync(ct);
                    return number;
                },
                report,
                cancellationToken).AsTask());
        }

        output.WriteLine($"Reports running: {string.Join(", ", started)}. Report 3 is {(reports[2].IsCompleted ? "finished" : "waiting in the queue")}.");
        var fourth = reports[3].IsCompleted ? await reports[3] : default;
        output.WriteLine(fourth.IsRejected
            ? $"Report 4 was refused at once ({fourth.Rejection.Reason}): both permits are taken and the queue is full."
            : "Report 4 was not refused.");

        release.SetResult();
        var outcomes = await Task.WhenAll(reports);
        output.WriteLine($"Once the running reports finished, report 3 got a permit. Reports that ran: {string.Join(", ", started)}.");
        output.WriteLine($"Reports completed: {outcomes.Count(o => o.IsSuccess)}; refused: {outcomes.Count(o => o.IsRejected)}.");
    }

    private static async Task PerTenantAsync(TextWriter output, CancellationToken cancellationToken)
    {
        // One token bucket per tenant; idle tenants are evicted, and at most 1,000 are kept.
        using var perTenant = new BoundedPartitionedLimiter<string>(
            tenant => new TokenBucketLimiter(new TokenBucketLimiterOptions { PermitsPerSecond = 0.1, Burst = 2 }),
            maxPartitions: 1_000,
            idleTimeout: TimeSpan.FromMinutes(5));
        var pipeline = new ResiliencePipelineBuilder { Name = "tenant-api" }
            .AddRateLimiter(perTenant, static () => CurrentTenant.Value ?? "anonymous")
            .Build();

        output.WriteLine("Partitioned: each tenant has its own bucket of 2 requests, refilled at 1 every 10 seconds.");
        foreach (var tenant in new[] { "alpha", "alpha", "alpha", "beta" })
        {
            CurrentTenant.Value = tenant;
            var outcome = await pipeline.ExecuteOutcomeAsync(static (t, _) => ValueTask.FromResult(t), tenant, cancellationToken);
            output.WriteLine($"A request from tenant {tenant} was {(outcome.IsRejected ? "refused" : "admitted")}.");
        }

        CurrentTenant.Value = null;
        output.WriteLine($"The limiter holds {perTenant.Count} partitions: tenant beta is not slowed down by tenant alpha.");
    }
}
