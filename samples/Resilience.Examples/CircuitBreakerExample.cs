namespace Resilience.Examples;

/// <summary>
/// A breaker in a pipeline opens on failures, refuses calls, lets a probe through after the break and closes; the same
/// kind of breaker used without a pipeline by a message consumer; Isolate and Close by hand; snapshots.
/// </summary>
public sealed class CircuitBreakerExample : IExample
{
    /// <inheritdoc />
    public string Name => "circuit-breaker";

    /// <inheritdoc />
    public string Summary => "a breaker opens, refuses, probes and closes; standalone use; Isolate/Close; snapshots";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        await PipelineFaceAsync(output, cancellationToken);
        output.WriteLine();
        await StandaloneFaceAsync(output, cancellationToken);
    }

    private static async Task PipelineFaceAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var inventory = new SimulatedDependency("inventory");
        var breaker = new CircuitBreaker(new CircuitBreakerOptions
        {
            Name = "inventory",
            FailureRatio = 0.5,
            MinimumThroughput = 4,
            BreakDuration = TimeSpan.FromSeconds(1),
        });
        breaker.Transitioned += (_, t) => output.WriteLine($"  The breaker '{t.Breaker.Name}' moved from {t.From} to {t.To} ({t.Reason}).");
        var pipeline = new ResiliencePipelineBuilder { Name = "inventory-reads" }.AddCircuitBreaker(breaker).Build();

        output.WriteLine("Pipeline: the 'inventory' breaker opens when half of at least 4 calls fail, and breaks for 1 s.");
        var call = 0;
        async Task<Outcome<string>> CallAsync()
        {
            call++;
            var outcome = await pipeline.ExecuteOutcomeAsync(
                static (dependency, ct) => dependency.CallAsync("stock of item 42", ct), inventory, cancellationToken);
            output.WriteLine(Describe(call, outcome));
            return outcome;
        }

        await CallAsync();
        await CallAsync();
        output.WriteLine("The inventory service goes down.");
        inventory.IsHealthy = false;
        await CallAsync();
        output.WriteLine(Snapshot(breaker));
        await CallAsync();
        var refused = await CallAsync();
        output.WriteLine($"The inventory service received {inventory.Calls} calls: the refused call never reached it.");

        output.WriteLine("The inventory service recovers; the example waits for the retry-after the refusal gave.");
        inventory.IsHealthy = true;
        await Task.Delay(refused.Rejection.RetryAfter.GetValueOrDefault() + TimeSpan.FromMilliseconds(50), cancellationToken);
        await CallAsync();
        output.WriteLine(Snapshot(breaker));

        output.WriteLine("An operator isolates the breaker for maintenance.");
        breaker.Isolate();
        await CallAsync();
        output.WriteLine("The operator closes it again.");
        breaker.Close();
        await CallAsync();
        output.WriteLine(Snapshot(breaker));
    }

    private static async Task StandaloneFaceAsync(TextWriter output, CancellationToken cancellationToken)
    {
        // A message consumer does not run a pipeline: it asks the breaker for a permit and reports each result.
        var mail = new SimulatedDependency("mail-server") { IsHealthy = false };
        var breaker = new CircuitBreaker(new CircuitBreakerOptions
        {
            Name = "mail-consumer",
            ConsecutiveFailures = 3,
            BreakDuration = TimeSpan.FromMinutes(1),
        });
        breaker.Opened += (_, t) => output.WriteLine($"  The breaker '{t.Breaker.Name}' opened ({t.Reason}) for {t.BreakDuration!.Value.TotalSeconds:0} s.");

        output.WriteLine("Standalone: a message consumer guards the mail server with a breaker that opens after 3 failures in a row.");
        for (var message = 1; message <= 5; message++)
        {
            if (breaker.TryAcquire(out var permit))
            {
                bool delivered;
                try
                {
                    await mail.CallAsync($"message {message}", cancellationToken);
                    delivered = true;
                }
                catch (IOException)
                {
                    delivered = false;
                }

                breaker.Record(permit, delivered ? CircuitCallResult.Success : CircuitCallResult.Failure);
                output.WriteLine($"Message {message}: {(delivered ? "delivered" : "delivery failed")}.");
            }
            else
            {
                var seconds = Math.Ceiling(permit.RetryAfter.GetValueOrDefault().TotalSeconds);
                output.WriteLine($"Message {message}: requeued without calling the mail server ({permit.RejectionReason}); try again in {seconds:0} s.");
            }
        }

        output.WriteLine($"The mail server received {mail.Calls} calls.");
    }

    private static string Describe(int call, Outcome<string> outcome) => outcome switch
    {
        { IsSuccess: true } => $"Call {call} succeeded: {outcome.Result}.",
        { IsRejected: true } when outcome.Rejection.RetryAfter is { } retryAfter =>
            $"Call {call} was refused ({outcome.Rejection.Reason}); retry after {Math.Ceiling(retryAfter.TotalMilliseconds):0} ms.",
        { IsRejected: true } => $"Call {call} was refused ({outcome.Rejection.Reason}), with no retry-after: only Close() ends an isolation.",
        _ => $"Call {call} failed: {outcome.Exception!.Message}",
    };

    private static string Snapshot(CircuitBreaker breaker)
    {
        var s = breaker.GetSnapshot();
        return $"Snapshot: {s.State}, generation {s.Generation}, {s.Calls} calls in the window ({s.Failures} failed), failure ratio {s.FailureRatio * 100:0}%.";
    }
}
