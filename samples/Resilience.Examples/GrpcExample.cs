using System.Net;
using System.Text;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Resilience.Grpc;

namespace Resilience.Examples;

/// <summary>
/// <see cref="ResilienceClientInterceptor"/> retries a loopback Kestrel gRPC server that answers <c>Unavailable</c> twice,
/// then <see cref="ResilienceServerInterceptor"/> sheds a second concurrent call with <c>ResourceExhausted</c>.
/// </summary>
public sealed class GrpcExample : IExample
{
    private static readonly Marshaller<string> Utf8 = Marshallers.Create(Encoding.UTF8.GetBytes, Encoding.UTF8.GetString);

    // Declared by hand, as generated code would: a unary method of strings.
    private static readonly Method<string, string> Lookup = new(MethodType.Unary, "inventory.Inventory", "Lookup", Utf8, Utf8);

    /// <inheritdoc />
    public string Name => "grpc";

    /// <inheritdoc />
    public string Summary => "gRPC interceptors: client retries Unavailable, server sheds load with ResourceExhausted";

    /// <inheritdoc />
    public async Task RunAsync(TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var inventory = new Inventory();
        var shedding = new ResiliencePipelineBuilder { Name = "inventory-server" }
            .AddConcurrencyLimiter(new InFlightLimiterOptions { PermitLimit = 1, QueueLimit = 0 })
            .Build();
        await using var server = await StartServerAsync(inventory, shedding, cancellationToken);
        var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var channel = GrpcChannel.ForAddress(address);
        output.WriteLine("A local gRPC server on 127.0.0.1 answers Unavailable to the first two lookups, then the item.");

        var breaker = new CircuitBreaker(new CircuitBreakerOptions { Name = "inventory", MinimumThroughput = 20 });
        var pipeline = new ResiliencePipelineBuilder { Name = "inventory" }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.FromMilliseconds(20), Backoff = RetryBackoff.Constant, UseJitter = false }, GrpcOutcomes.IsTransientFailure)
            .AddCircuitBreaker(breaker, GrpcOutcomes.IsTransientFailure)
            .Build();
        var resilient = channel.Intercept(new ResilienceClientInterceptor(pipeline));

        var answer = await resilient.AsyncUnaryCall(Lookup, null, new CallOptions(cancellationToken: cancellationToken), "item 42").ResponseAsync;
        var attempts = inventory.Attempts;
        output.WriteLine($"The server saw {attempts.Count} attempts: {string.Join(", ", attempts)}.");
        output.WriteLine($"The caller saw one answer, after {attempts.Count - 1} retries: \"{answer}\".");
        output.WriteLine($"The circuit stayed {breaker.State}.");

        output.WriteLine("The server admits one call at a time (a concurrency limiter, PermitLimit 1, no queue).");
        var plain = channel.CreateCallInvoker();
        using var first = plain.AsyncUnaryCall(Lookup, null, new CallOptions(cancellationToken: cancellationToken), Inventory.HoldRequest);
        await inventory.Holding.WaitAsync(cancellationToken);
        output.WriteLine("A first call is in the handler, holding the only permit.");
        try
        {
            using var second = plain.AsyncUnaryCall(Lookup, null, new CallOptions(cancellationToken: cancellationToken), "item 7");
            var unexpected = await second.ResponseAsync;
            output.WriteLine($"A second call was answered: \"{unexpected}\".");
        }
        catch (RpcException refused)
        {
            var pushback = refused.Trailers.GetValue(GrpcOutcomes.RetryPushbackTrailer);
            output.WriteLine($"A second call was refused before the handler ran: {refused.StatusCode}.");
            output.WriteLine(pushback is null
                ? $"The refusal has no {GrpcOutcomes.RetryPushbackTrailer} trailer: a concurrency limiter cannot tell when a permit frees."
                : $"The refusal has a {GrpcOutcomes.RetryPushbackTrailer} trailer: {pushback}.");
        }
        finally
        {
            inventory.Release();
        }

        output.WriteLine($"Released, the first call answered \"{await first.ResponseAsync}\".");
        output.WriteLine($"The handler ran {inventory.HandlerRuns} times in all.");
        await server.StopAsync(cancellationToken);
    }

    private static async Task<WebApplication> StartServerAsync(Inventory inventory, ResiliencePipeline shedding, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(options => options.Interceptors.Add<ResilienceServerInterceptor>(shedding));
        builder.Services.AddSingleton(inventory);
        builder.Services.AddSingleton<IServiceMethodProvider<InventoryService>, InventoryMethods>();
        var app = builder.Build();
        app.MapGrpcService<InventoryService>();
        await app.StartAsync(cancellationToken);
        return app;
    }

    /// <summary>The handler: lookups fail with <c>Unavailable</c> twice, then answer; a hold request waits until released.</summary>
    private sealed class Inventory
    {
        public const string HoldRequest = "report";

        private readonly List<StatusCode> _attempts = [];
        private readonly TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource<string> _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _handlerRuns;

        public IReadOnlyList<StatusCode> Attempts
        {
            get
            {
                lock (_attempts)
                {
                    return [.. _attempts];
                }
            }
        }

        public Task Holding => _holding.Task;

        public int HandlerRuns => Volatile.Read(ref _handlerRuns);

        public void Release() => _released.TrySetResult("report ready");

        public Task<string> RespondAsync(string request)
        {
            Interlocked.Increment(ref _handlerRuns);
            if (request == HoldRequest)
            {
                _holding.TrySetResult();
                return _released.Task;
            }

            lock (_attempts)
            {
                var status = _attempts.Count < 2 ? StatusCode.Unavailable : StatusCode.OK;
                _attempts.Add(status);
                if (status != StatusCode.OK)
                {
                    throw new RpcException(new Status(status, "warming up"));
                }
            }

            return Task.FromResult($"{request}: 3 in stock");
        }
    }

    /// <summary>The service type the methods are mapped under; the handlers do not use it.</summary>
    private sealed class InventoryService
    {
    }

    /// <summary>Declares the service's method without generated code.</summary>
    private sealed class InventoryMethods(Inventory inventory) : IServiceMethodProvider<InventoryService>
    {
        public void OnServiceMethodDiscovery(ServiceMethodProviderContext<InventoryService> context) =>
            context.AddUnaryMethod(Lookup, [], (_, request, _) => inventory.RespondAsync(request));
    }
}
