using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Resilience.Http;

namespace Resilience.Examples;

/// <summary><see cref="ResilienceHandler"/> retries a loopback Kestrel server that answers 503 twice, then 200.</summary>
public sealed class HttpExample : IExample
{
    /// <inheritdoc />
    public string Name => "http";

    /// <inheritdoc />
    public string Summary => "ResilienceHandler retries a local server that answers 503, 503, then 200";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var statuses = new List<int>();
        await using var server = await StartServerAsync(statuses, cancellationToken);
        var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        output.WriteLine("A local server on 127.0.0.1 answers 503 to the first two requests, then 200.");

        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { Name = "catalog" }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(20), Backoff = RetryBackoff.Constant, UseJitter = false }, HttpOutcomes.IsTransientFailure)
            .AddCircuitBreaker(new CircuitBreakerOptions { Name = "catalog", MinimumThroughput = 20 }, HttpOutcomes.IsTransientFailure)
            .AddTimeout(TimeSpan.FromSeconds(2))
            .Build();
        using var client = new HttpClient(new ResilienceHandler(pipeline) { InnerHandler = new SocketsHttpHandler() })
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
        await server.StopAsync(cancellationToken);
    }

    private static async Task<WebApplication> StartServerAsync(List<int> statuses, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        app.Run(async context =>
        {
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
