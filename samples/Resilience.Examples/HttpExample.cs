using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Resilience.Http;

namespace Resilience.Examples;

/// <summary>
/// <see cref="ResilienceHandler"/> retries a loopback Kestrel server that answers 503 twice, then 200; a POST, which must
/// not be repeated, is sent once.
/// </summary>
public sealed class HttpExample : IExample
{
    /// <inheritdoc />
    public string Name => "http";

    /// <inheritdoc />
    public string Summary => "ResilienceHandler retries a local server that answers 503, 503, then 200, and sends a POST once";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var statuses = new List<int>();
        var posts = new StrongBox<int>();
        await using var server = await StartServerAsync(statuses, posts, cancellationToken);
        var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        output.WriteLine("A local server on 127.0.0.1 answers 503 to the first two requests, then 200; it answers every POST with 503.");

        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { Name = "catalog" }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(20), Backoff = RetryBackoff.Constant, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(new CircuitBreakerOptions { Name = "catalog", MinimumThroughput = 20 }, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromSeconds(2))
            .Build();
        // A POST places an order: repeated after a failure that reached the server, it could place it twice.
        using var client = new HttpClient(new ResilienceHandler(pipeline) { UnretriedMethods = [HttpMethod.Post], InnerHandler = new SocketsHttpHandler() })
        {
            BaseAddress = new Uri(address),
        };

        using var response = await client.GetAsync(new Uri("/items/42", UriKind.Relative), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        int[] answered;
        lock (statuses)
        {
            answered = [.. statuses];
        }

        output.WriteLine($"The server answered {string.Join(", ", answered)}.");
        output.WriteLine($"The caller saw one response, after {answered.Length - 1} retries: {(int)response.StatusCode} {response.StatusCode}, \"{body}\".");

        using var order = await client.PostAsync(new Uri("/orders", UriKind.Relative), new StringContent("{\"item\": 42}"), cancellationToken);
        output.WriteLine($"A POST, which the handler sends once: {(int)order.StatusCode} {order.StatusCode}; the server saw {Volatile.Read(ref posts.Value)} POST.");
        await server.StopAsync(cancellationToken);
    }

    private static async Task<WebApplication> StartServerAsync(List<int> statuses, StrongBox<int> posts, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
            if (HttpMethods.IsPost(context.Request.Method))
            {
                Interlocked.Increment(ref posts.Value);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync("overloaded", context.RequestAborted);
                return;
            }

            int status;
            lock (statuses)
            {
                status = statuses.Count < 2 ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK;
                statuses.Add(status);
            }

            context.Response.StatusCode = status;
            await context.Response.WriteAsync(status == StatusCodes.Status200OK ? "item 42" : "overloaded", context.RequestAborted);
        });
        await app.StartAsync(cancellationToken);
        return app;
    }
}
