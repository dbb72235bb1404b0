namespace Resilience.Examples.Tests;

public class RetryExampleTests
{
    [Fact]
    public async Task Backoff_retries_until_the_service_answers()
    {
        var output = await ExampleOutput.RunAsync("retry");

        output.Has("Backoff: up to 3 retries, waiting 20 ms, then 40 ms, then 80 ms.");
        output.Has("The prices service failed twice, then answered: price of item 42 from prices. It received 3 attempts.");
    }

    [Fact]
    public async Task The_retry_budget_refuses_retries_once_half_of_it_is_spent()
    {
        var output = await ExampleOutput.RunAsync("retry");

        output.HasInOrder(
            "Call 1 failed after 2 attempts; budget balance 2 of 4.",
            "The retry budget refused a retry: 2 of the call's retries were not sent.",
            "Call 2 failed after 1 attempt; budget balance 1 of 4.",
            "The retry budget refused a retry: 3 of the call's retries were not sent.",
            "Call 3 failed after 1 attempt; budget balance 0 of 4.",
            "Three calls sent 4 attempts to the failing service instead of 12.");
    }

    [Fact]
    public async Task A_retry_after_hint_replaces_the_backoff_and_a_too_long_one_ends_the_retries()
    {
        var output = await ExampleOutput.RunAsync("retry");

        output.Has("Attempts: 2; the call succeeded and took less than a second: the retry waited the hint.");
        output.Has("Asked to wait 30 s, more than MaxRetryAfter (1 s), the retry gave up after 1 attempt: quotes is busy; retry after 30000 ms.");
    }
}
