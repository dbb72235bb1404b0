namespace Resilience.Examples;

/// <summary>A timeout cuts a slow call short; the caller's own cancellation stays a cancellation.</summary>
public sealed class TimeoutExample : IExample
{
    /// <inheritdoc />
    public string Name => "timeout";

    /// <inheritdoc />
    public string Summary => "a timeout cuts a slow call short; the caller's own cancellation is not a timeout";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var orders = new SimulatedDependency("orders");
        var pipeline = new ResiliencePipelineBuilder<string> { Name = "orders" }
            .AddTimeout(TimeSpan.FromMilliseconds(200))
            .Build();
        output.WriteLine("Each call to the orders service gets 200 ms.");

        var order = await pipeline.ExecuteAsync(static (s, ct) => s.CallAsync("order 42", ct), orders, cancellationToken);
        output.WriteLine($"A fast call succeeded: {order}.");

        orders.Latency = TimeSpan.FromSeconds(10);
        output.WriteLine("The orders service becomes slow: it would take 10 s to answer.");
        try
        {
            await pipeline.ExecuteAsync(static (s, ct) => s.CallAsync("order 43", ct), orders, cancellationToken);
            output.WriteLine("The slow call was not cut short.");
        }
        catch (TimeoutRejectedException exception)
        {
            // A timeout is a failure: a breaker, a retry or a fallback outside the timeout counts it.
            output.WriteLine($"The slow call was cut short: {exception.GetType().Name} after the {exception.Timeout.TotalMilliseconds:0} ms timeout.");
        }

        using var caller = new CancellationTokenSource();
        var started = new TaskCompletionSource();
        var call = pipeline.ExecuteAsync(
            static async (state, ct) =>
            {
                state.Started.SetResult();
                return await state.Orders.CallAsync("order 44", ct);
            },
            (Orders: orders, Started: started),
            caller.Token).AsTask();
        await started.Task;
        output.WriteLine("Another slow call starts, and the caller gives up before the timeout.");
        await caller.CancelAsync();
        try
        {
            await call;
            output.WriteLine("The cancelled call was not cancelled.");
        }
        catch (TimeoutRejectedException)
        {
            output.WriteLine("The cancelled call was reported as a timeout.");
        }
        catch (OperationCanceledException exception) when (exception.CancellationToken == caller.Token)
        {
            // The caller's cancellation is never a failure: no breaker counts it and no retry repeats it. It carries
            // the caller's token, though the callback saw the timeout's token (its exception is the inner one).
            output.WriteLine($"The caller's cancellation came back as {exception.GetType().Name}, not as a timeout.");
        }

        output.WriteLine($"The orders service received {orders.Calls} calls.");
    }
}
