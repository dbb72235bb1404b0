namespace Resilience.Examples.Tests;

public class GrpcExampleTests
{
    [Fact]
    public async Task The_client_interceptor_retries_unavailable_and_the_server_interceptor_sheds_the_second_concurrent_call()
    {
        var output = await ExampleOutput.RunAsync("grpc");

        output.HasInOrder(
            "The server saw 3 attempts: Unavailable, Unavailable, OK.",
            "The caller saw one answer, after 2 retries: \"item 42: 3 in stock\".",
            "The circuit stayed Closed.",
            "A first call is in the handler, holding the only permit.",
            "A second call was refused before the handler ran: ResourceExhausted.",
            "The refusal has no grpc-retry-pushback-ms trailer: a concurrency limiter cannot tell when a permit frees.",
            "Released, the first call answered \"report ready\".",
            "The handler ran 4 times in all.");
    }
}
