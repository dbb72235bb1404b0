namespace Resilience.Examples.Tests;

public class HttpExampleTests
{
    [Fact]
    public async Task The_handler_retries_the_503_answers_and_the_caller_sees_the_200()
    {
        var output = await ExampleOutput.RunAsync("http");

        output.HasInOrder(
            "The server answered 503, 503, 200.",
            "The caller saw one response, after 2 retries: 200 OK, \"item 42\".");
    }
}
