namespace Resilience.Examples.Tests;

public class CircuitBreakerExampleTests
{
    [Fact]
    public async Task The_breaker_opens_on_failures_refuses_probes_and_closes_then_is_isolated_and_closed_by_hand()
    {
        var output = await ExampleOutput.RunAsync("circuit-breaker");

        Assert.Equal(
            [
                "The breaker 'inventory' moved from Closed to Open (FailureRatio).",
                "The breaker 'inventory' moved from Open to HalfOpen (BreakElapsed).",
                "The breaker 'inventory' moved from HalfOpen to Closed (ProbesSucceeded).",
                "The breaker 'inventory' moved from Closed to Isolated (Manual).",
                "The breaker 'inventory' moved from Isolated to Closed (Manual).",
            ],
            output.Starting("The breaker 'inventory' moved"));
        output.HasInOrder(
            "Call 3 failed: inventory did not answer.",
            "Snapshot: Closed, generation 0, 3 calls in the window (1 failed), failure ratio 33%.",
            "The breaker 'inventory' moved from Closed to Open (FailureRatio).",
            "Call 4 failed: inventory did not answer.",
            "The inventory service received 4 calls: the refused call never reached it.",
            "Call 6 succeeded: stock of item 42 from inventory.",
            "Snapshot: Closed, generation 3, 0 calls in the window (0 failed), failure ratio 0%.",
            "Call 7 was refused (IsolatedCircuit), with no retry-after: only Close() ends an isolation.",
            "Call 8 succeeded: stock of item 42 from inventory.",
            "Snapshot: Closed, generation 5, 1 calls in the window (0 failed), failure ratio 0%.");

        var retryAfter = output.Number(@"^Call 5 was refused \(BrokenCircuit\); retry after (\d+) ms\.$");
        Assert.InRange(retryAfter, 1, 1000);
    }

    [Fact]
    public async Task The_standalone_breaker_opens_after_three_failures_in_a_row_and_requeues_the_rest()
    {
        var output = await ExampleOutput.RunAsync("circuit-breaker");

        output.HasInOrder(
            "Message 1: delivery failed.",
            "Message 2: delivery failed.",
            "The breaker 'mail-consumer' opened (ConsecutiveFailures) for 60 s.",
            "Message 3: delivery failed.",
            "Message 4: requeued without calling the mail server (BrokenCircuit); try again in 60 s.",
            "Message 5: requeued without calling the mail server (BrokenCircuit); try again in 60 s.",
            "The mail server received 3 calls.");
    }
}
