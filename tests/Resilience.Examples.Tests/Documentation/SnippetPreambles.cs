namespace Resilience.Examples.Tests.Documentation;

/// <summary>
/// The preamble of each documentation snippet that uses identifiers it does not declare, keyed by file and
/// block index: only what a reader would have at hand already (their own service clients and domain types, a
/// cancellation token, the service collection, the web application's builder). Everything the library provides
/// comes from the library.
/// </summary>
internal static class SnippetPreambles
{
    // The callbacks a pipeline runs return ValueTask, as the samples' clients do.
    private const string CatalogTypes = """
        public sealed record Product(string Id, string Name)
        {
            public static Product Unavailable { get; } = new("", "unavailable");
        }

        public sealed class CatalogClient
        {
            public ValueTask<Product> GetAsync(string id, CancellationToken cancellationToken) => ValueTask.FromResult(new Product(id, id));
        }
        """;

    private const string OrderTypes = """
        public sealed record Order(int Id)
        {
            public static Order Unavailable { get; } = new(0);
        }

        public sealed class OrdersClient
        {
            public ValueTask<Order> GetOrderAsync(CancellationToken cancellationToken) => ValueTask.FromResult(new Order(1));

            public ValueTask<Order> GetOrderAsync(int id, CancellationToken cancellationToken) => ValueTask.FromResult(new Order(id));
        }
        """;

    private const string InventoryTypes = """
        // Stands in for the client protoc generates from inventory.proto.
        public static class Inventory
        {
            public sealed class InventoryClient(Grpc.Core.CallInvoker callInvoker)
            {
                public Grpc.Core.CallInvoker CallInvoker { get; } = callInvoker;
            }
        }
        """;

    private static readonly Dictionary<(string File, int Index), SnippetPreamble> Preambles = new()
    {
        [("README.md", 0)] = new(
            Statements: """
                var catalog = new CatalogClient();
                var productId = "42";
                var cancellationToken = CancellationToken.None;
                """,
            Types: CatalogTypes),
        [("docs/circuit-breaker.md", 0)] = new(
            Usings: "using Microsoft.Extensions.Logging;\nusing Microsoft.Extensions.Logging.Abstractions;",
            Statements: """
                ILogger logger = NullLogger.Instance;
                var message = "order-42";
                static Task<bool> HandleAsync(string message) => Task.FromResult(message.Length > 0);
                static Task RequeueAsync(string message, TimeSpan? delay) => Task.CompletedTask;
                """),
        [("docs/configuration.md", 0)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: """
                var services = new ServiceCollection();
                IServiceProvider serviceProvider = services.BuildServiceProvider();
                """),
        [("docs/configuration.md", 1)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;\nusing Resilience.DependencyInjection;",
            Statements: "var provider = new ServiceCollection().BuildServiceProvider().GetRequiredService<ResiliencePipelineProvider>();"),
        [("docs/configuration.md", 2)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;\nusing Resilience.DependencyInjection;",
            Statements: "var provider = new ServiceCollection().BuildServiceProvider().GetRequiredService<ResiliencePipelineProvider>();"),
        [("docs/fallback.md", 0)] = new(
            Statements: """
                var catalog = new CatalogClient();
                var secondary = new CatalogClient();
                var catalogBreaker = new CircuitBreaker(new CircuitBreakerOptions());
                var metrics = new CatalogMetrics();
                var productId = "42";
                """,
            Types: CatalogTypes + """

                public sealed class CatalogMetrics
                {
                    public void FallbackServed(string level) => _ = level;
                }
                """),
        [("docs/grpc.md", 0)] = new(Types: InventoryTypes),
        [("docs/grpc.md", 1)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();",
            Types: InventoryTypes),
        [("docs/grpc.md", 2)] = new(
            Usings: "using Microsoft.AspNetCore.Builder;\nusing Microsoft.Extensions.DependencyInjection;",
            Statements: "var builder = WebApplication.CreateBuilder();"),
        [("docs/grpc.md", 3)] = new(
            Usings: "using Microsoft.AspNetCore.Builder;\nusing Microsoft.Extensions.DependencyInjection;\nusing Resilience.DependencyInjection;",
            Statements: "var builder = WebApplication.CreateBuilder();"),
        [("docs/http.md", 1)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();"),
        [("docs/http.md", 2)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();"),
        [("docs/http.md", 3)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();\nvar pipeline = ResiliencePipeline<HttpResponseMessage>.Empty;"),
        [("docs/http.md", 4)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();"),
        [("docs/rate-limiting.md", 0)] = new(
            Statements: """
                var query = "resilience";
                static ValueTask<string[]> Search(string query, CancellationToken cancellationToken) => ValueTask.FromResult(new[] { query });
                """),
        [("docs/rate-limiting.md", 1)] = new(
            Statements: "var CurrentTenant = new AsyncLocal<string>();"),
        [("docs/rate-limiting.md", 2)] = new(
            Usings: """
                using System.Threading.RateLimiting;
                using Microsoft.AspNetCore.Builder;
                using Microsoft.AspNetCore.Http;
                using Microsoft.Extensions.DependencyInjection;
                """,
            Statements: "var builder = WebApplication.CreateBuilder();"),
        [("docs/retry.md", 1)] = new(
            Statements: """
                var pipeline = new ResiliencePipelineBuilder().Build();
                var order = new Order(42);
                var cancellationToken = CancellationToken.None;
                static ValueTask<string> PlaceOrderAsync(Order order, CancellationToken cancellationToken) => ValueTask.FromResult($"order {order.Id} placed");
                """,
            Types: "public sealed record Order(int Id);"),
        [("docs/retry.md", 2)] = new(
            Types: """
                public sealed class QuotaExceededException(TimeSpan resetIn) : Exception("quota exceeded")
                {
                    public TimeSpan ResetIn { get; } = resetIn;
                }
                """),
        [("docs/retry.md", 3)] = new(
            Statements: "var inventoryBreaker = new CircuitBreaker(new CircuitBreakerOptions());"),
        [("docs/telemetry.md", 0)] = new(
            Statements: "var breaker = new CircuitBreaker(new CircuitBreakerOptions());"),
        [("docs/timeout.md", 0)] = new(
            Statements: """
                var client = new OrdersClient();
                var orderId = 42;
                var cancellationToken = CancellationToken.None;
                """,
            Types: OrderTypes),
        [("docs/timeout.md", 1)] = new(
            Statements: "var metrics = new OrderMetrics();",
            Types: """
                public sealed class OrderMetrics
                {
                    public void TimedOut(string strategy, TimeSpan timeout)
                    {
                    }
                }
                """),
        [("src/Resilience.Core/README.md", 0)] = new(
            Statements: """
                ResilienceStrategy myStrategy = new PassThroughStrategy();
                var client = new OrdersClient();
                var cancellationToken = CancellationToken.None;
                """,
            Types: OrderTypes + """

                public sealed class PassThroughStrategy() : ResilienceStrategy("PassThrough");
                """),
        [("src/Resilience.Grpc/README.md", 0)] = new(
            Usings: """
                using Grpc.Core.Interceptors;
                using Grpc.Net.Client;
                using Microsoft.AspNetCore.Builder;
                using Microsoft.Extensions.DependencyInjection;
                """,
            Statements: """
                using var channel = GrpcChannel.ForAddress("http://inventory.internal:5000");
                var pipeline = new ResiliencePipelineBuilder().Build();
                var sheddingPipeline = new ResiliencePipelineBuilder().Build();
                var builder = WebApplication.CreateBuilder();
                """,
            Types: InventoryTypes),
        [("src/Resilience.Http/README.md", 1)] = new(
            Usings: "using Microsoft.Extensions.DependencyInjection;",
            Statements: "var services = new ServiceCollection();"),
    };

    public static IReadOnlyCollection<(string File, int Index)> Keys => Preambles.Keys;

    public static SnippetPreamble For(DocumentationSnippet snippet) =>
        Preambles.TryGetValue((snippet.File, snippet.Index), out var preamble) ? preamble : SnippetPreamble.None;
}
