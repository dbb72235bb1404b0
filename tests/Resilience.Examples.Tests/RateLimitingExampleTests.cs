namespace Resilience.Examples.Tests;

public class RateLimitingExampleTests
{
    [Fact]
    public async Task The_token_bucket_admits_its_burst_refuses_with_a_retry_after_and_admits_again_after_it()
    {
        var output = await ExampleOutput.RunAsync("rate-limiting");

        output.HasInOrder(
            "Request 1 was admitted.",
            "Request 2 was admitted.",
            "Request 3 was admitted.");
        Assert.InRange(output.Number(@"^Request 4 was refused \(RateLimited\); a permit will be there in (\d+) ms\.$"), 1, 1000);
        Assert.InRange(output.Number(@"^Request 5 was refused \(RateLimited\); a permit will be there in (\d+) ms\.$"), 1, 1000);
        output.Has("After waiting the retry-after, request 6 was admitted.");
        output.Has("The search service received 4 requests.");
    }

    [Fact]
    public async Task The_concurrency_limiter_queues_one_call_and_refuses_the_next()
    {
        var output = await ExampleOutput.RunAsync("rate-limiting");

        output.HasInOrder(
            "Reports running: 1, 2. Report 3 is waiting in the queue.",
            "Report 4 was refused at once (RateLimited): both permits are taken and the queue is full.",
            "Once the running reports finished, report 3 got a permit. Reports that ran: 1, 2, 3.",
            "Reports completed: 3; refused: 1.");
    }

    [Fact]
    public async Task Each_tenant_has_its_own_limit()
    {
        var output = await ExampleOutput.RunAsync("rate-limiting");

        Assert.Equal(
            [
                "A request from tenant alpha was admitted.",
                "A request from tenant alpha was admitted.",
                "A request from tenant alpha was refused.",
                "A request from tenant beta was admitted.",
            ],
            output.Starting("A request from tenant"));
        output.Has("The limiter holds 2 partitions: tenant beta is not slowed down by tenant alpha.");
    }
}
