using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Resilience.DependencyInjection;

namespace Resilience.Tests.Configuration;

/// <summary>The JSON of the "Schema" section of docs/configuration.md is accepted as it stands and means what the page says.</summary>
public sealed class DocumentedSchemaTests
{
    [Fact]
    public void The_documented_schema_is_accepted_and_builds_the_pipelines_and_instances_it_declares()
    {
        using var services = Services(SchemaJson());
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();

        var health = provider.GetHealth();
        var orders = Assert.Single(health.Pipelines, pipeline => pipeline.Name == "orders");
        // Outermost first, after the telemetry strategy every served pipeline has.
        Assert.Equal(["Telemetry", "orders/TotalTimeout", "orders/Retry", "orders/CircuitBreaker", "database", "orders/Timeout"], orders.Strategies);
        Assert.True(health.IsHealthy);

        // Configuration overlays the code's options of a shared instance: the code's MinimumThroughput stays.
        var payments = provider.GetCircuitBreaker("payments").Options;
        Assert.Equal((0.5, TimeSpan.FromSeconds(30), 10), (payments.FailureRatio, payments.BreakDuration, payments.MinimumThroughput));
        var api = provider.GetTokenBucket("api").Options;
        Assert.Equal((200d, 50), (api.PermitsPerSecond, api.Burst));
        var database = provider.GetConcurrencyLimiter("database").Options;
        Assert.Equal((32, 64, (TimeSpan?)TimeSpan.FromSeconds(2)), (database.PermitLimit, database.QueueLimit, database.QueueTimeout));
        Assert.Equal(10, provider.GetRetryBudget("backend").Balance);
        Assert.NotNull(provider.GetPipeline("checkout"));
    }

    private static ServiceProvider Services(string json)
    {
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build();
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton<TimeProvider>(new FakeTimeProvider());
        services.AddResilience()
            .AddCircuitBreaker("payments", options => options.MinimumThroughput = 10);
        services.AddResiliencePipeline("checkout", (builder, context) => builder.AddStrategy(context.BindTimeout()));
        return services.BuildServiceProvider();
    }

    private static string SchemaJson()
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "configuration.md"))
            .SkipWhile(line => line != "## Schema")
            .SkipWhile(line => line != "```json")
            .Skip(1)
            .TakeWhile(line => line != "```");
        return string.Join('\n', lines);
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("The repository's root (Resilience.sln) is above no test directory.");
    }
}
