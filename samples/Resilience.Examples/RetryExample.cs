namespace Resilience.Examples;

/// <summary>Retries with exponential backoff, a retry budget that stops a retry storm, and a service's retry-after hint.</summary>
public sealed class RetryExample : IExample
{
    /// <inheritdoc />
    public string Name => "retry";

    /// <inheritdoc />
    public string Summary => "exponential backoff, a retry budget refusing retries, a retry-after hint";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        await BackoffAsync(output, cancellationToken);
        output.WriteLine();
        await BudgetAsync(output, cancellationToken);
        output.WriteLine();
        await RetryAfterHintAsync(output, cancellationToken);
    }

    private static async Task BackoffAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var prices = new SimulatedDependency("prices");
        var options = new RetryOptions
        {
            MaxRetryAttempts = 3,
            Backoff = RetryBackoff.Exponential,
            Delay = TimeSpan.FromMilliseconds(20),
            UseJitter = false,
        };
        var pipeline = new ResiliencePipelineBuilder { Name = "prices" }.AddRetry(options).Build();
        var delays = Enumerable.Range(1, options.MaxRetryAttempts).Select(retry => $"{RetryStrategy.BackoffDelay(options, retry).TotalMilliseconds:0} ms");
        output.WriteLine($"Backoff: up to {options.MaxRetryAttempts} retries, waiting {string.Join(", then ", delays)}.");

        prices.FailNext(2);
        var price = await pipeline.ExecuteAsync(static (s, ct) => s.CallAsync("price of item 42", ct), prices, cancellationToken);
        output.WriteLine($"The prices service failed twice, then answered: {price}. It received {prices.Calls} attempts.");
    }

    private static async Task BudgetAsync(TextWriter output, CancellationToken cancellationToken)
    {
        // One budget for every caller of the service: each failed attempt takes a token, each success gives back 0.1,
        // and retries are allowed only while more than half of the 4 tokens remain.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 4, TokenRatio = 0.1 });
        var stock = new SimulatedDependency("stock") { IsHealthy = false };
        var pipeline = new ResiliencePipelineBuilder { Name = "stock" }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(5), UseJitter = false, Budget = budget })
            .Build();
        output.WriteLine("Budget: the stock service is down; each call may retry 3 times, within a shared budget of 4 tokens.");

        for (var call = 1; call <= 3; call++)
        {
            var before = stock.Calls;
            var outcome = await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("stock of item 42", ct), stock, cancellationToken);
            var attempts = stock.Calls - before;
            output.WriteLine($"Call {call} {(outcome.IsSuccess ? "succeeded" : "failed")} after {attempts} attempt{(attempts == 1 ? "" : "s")}; budget balance {budget.Balance:0.#} of 4.");
            if (attempts < 4 && !budget.CanRetry)
            {
                output.WriteLine($"  The retry budget refused a retry: {4 - attempts} of the call's retries were not sent.");
            }
        }

        output.WriteLine($"Three calls sent {stock.Calls} attempts to the failing service instead of 12.");
    }

    private static async Task RetryAfterHintAsync(TextWriter output, CancellationToken cancellationToken)
    {
        var quotes = new SimulatedDependency("quotes");
        var pipeline = new ResiliencePipelineBuilder
            {
                Name = "quotes",
                // The service says how long to wait; the retry waits that instead of its own backoff.
                RetryAfterHint = static exception => (exception as ServiceBusyException)?.RetryAfter,
            }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 1, Delay = TimeSpan.FromSeconds(5), UseJitter = false, MaxRetryAfter = TimeSpan.FromSeconds(1) })
            .Build();
        output.WriteLine("Retry-after: the quotes service is busy and asks for 50 ms; the retry's own backoff would be 5 s.");

        quotes.BusyNext(TimeSpan.FromMilliseconds(50));
        var started = TimeProvider.System.GetTimestamp();
        var outcome = await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("quote", ct), quotes, cancellationToken);
        var waited = TimeProvider.System.GetElapsedTime(started);
        output.WriteLine($"Attempts: {quotes.Calls}; the call {(outcome.IsSuccess ? "succeeded" : "failed")} and took {(waited < TimeSpan.FromSeconds(1) ? "less than a second: the retry waited the hint" : "a second or more")}.");

        quotes.BusyNext(TimeSpan.FromSeconds(30));
        var before = quotes.Calls;
        outcome = await pipeline.ExecuteOutcomeAsync(static (s, ct) => s.CallAsync("quote", ct), quotes, cancellationToken);
        output.WriteLine($"Asked to wait 30 s, more than MaxRetryAfter (1 s), the retry gave up after {quotes.Calls - before} attempt: {outcome.Exception!.Message}");
    }
}
