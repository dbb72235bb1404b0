namespace Resilience.Examples.Tests;

public class TimeoutExampleTests
{
    [Fact]
    public async Task A_slow_call_times_out_and_a_caller_cancellation_stays_a_cancellation()
    {
        var output = await ExampleOutput.RunAsync("timeout");

        output.HasInOrder(
            "A fast call succeeded: order 42 from orders.",
            "The slow call was cut short: TimeoutRejectedException after the 200 ms timeout.",
            "The caller's cancellation came back as TaskCanceledException, not as a timeout.",
            "The orders service received 3 calls.");
    }
}
