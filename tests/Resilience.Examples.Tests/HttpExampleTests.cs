namespace Resilience.Examples.Tests;

public class HttpExampleTests
{
    [Fact]
    public async Task The_handler_retries_the_503_answers_the_caller_sees_the_200_and_a_post_is_sent_once()
    {
        var output = await ExampleOutput.RunAsync("http");

        output.HasInOrder(
            "The server answered 503, 503, 200.",
            "The caller saw one response, after 2 retries: 200 OK, \"item 42\".",
            "A POST, which the handler sends once: 503 ServiceUnavailable; the server saw 1 POST.");
    }
}
