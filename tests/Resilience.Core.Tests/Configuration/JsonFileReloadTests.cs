using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.Configuration;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Resilience.Tests.Configuration;

/// <summary>
/// End to end: a JSON file watched with reloadOnChange. File notifications are asynchronous, so each step waits, with a
/// bound, for the reload it caused to be seen; nothing asserts on elapsed time.
/// </summary>
public sealed class JsonFileReloadTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly string _directory = Directory.CreateTempSubdirectory("resilience-").FullName;
    private readonly string _path;

    public JsonFileReloadTests()
    {
        _path = Path.Combine(_directory, "appsettings.json");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string Settings(string failureRatio, string minimumThroughput, string breakDuration) => $$"""
        {
          "Resilience": {
            "Pipelines": {
              "orders": {
                "Strategies": [ "CircuitBreaker", "Timeout" ],
                "CircuitBreaker": { "FailureRatio": {{failureRatio}}, "MinimumThroughput": {{minimumThroughput}}, "BreakDuration": "{{breakDuration}}" },
                "Timeout": { "Timeout": "00:00:05" }
              }
            }
          }
        }
        """;

    /// <summary>Replaces the file at once (write aside, then rename), so the watcher never reads it half-written.</summary>
    private async Task Write(string content)
    {
        var temporary = Path.Combine(_directory, "appsettings.json.tmp");
        await File.WriteAllTextAsync(temporary, content);
        File.Move(temporary, _path, overwrite: true);
    }

    private static async Task<ResilienceReloadResult> NextReload(ResiliencePipelineProvider provider, ResilienceReloadResult? previous)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < deadline)
        {
            if (provider.LastReload is { } last && !ReferenceEquals(last, previous))
            {
                return last;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"No reload was seen within {Patience} after the file changed.");
    }

    [Fact]
    public async Task Rewriting_the_file_applies_new_thresholds_to_an_open_breaker_rejects_an_invalid_version_and_applies_the_fix()
    {
        await Write(Settings("0.5", "4", "00:01:00"));
        var configuration = new ConfigurationBuilder().AddJsonFile(_path, optional: false, reloadOnChange: true).Build();
        var time = new FakeTimeProvider();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton<TimeProvider>(time)
            .AddMetrics()
            .AddResilience().Services
            .BuildServiceProvider();
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();
        using var reloads = new MetricCollector<long>(services.GetRequiredService<ResilienceTelemetry>().Meter, "resilience.config.reloads");
        var pipeline = provider.GetPipeline("orders");
        var breaker = ((CircuitBreakerStrategy)pipeline.Strategies[1]).Breaker;

        var calls = 0;
        while (breaker.State != CircuitState.Open && calls++ < 100)
        {
            pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        }

        Assert.Equal(CircuitState.Open, breaker.State);
        var generation = breaker.GetSnapshot().Generation;

        // New thresholds: applied in place, the breaker stays open in the same generation.
        await Write(Settings("0.9", "10", "00:02:00"));
        var applied = await NextReload(provider, null);
        Assert.True(applied.IsApplied, applied.ToString());
        Assert.Equal((0.9, 10, TimeSpan.FromMinutes(2)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
        Assert.Equal((CircuitState.Open, generation), (breaker.State, breaker.GetSnapshot().Generation));
        Assert.True(pipeline.ExecuteOutcome(static (_, _) => 1, 0).IsRejected);

        // An invalid version: rejected and counted; the last good settings stay.
        await Write(Settings("1.5", "20", "00:03:00"));
        var rejected = await NextReload(provider, applied);
        Assert.False(rejected.IsApplied);
        Assert.Equal(["Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5."], rejected.Errors);
        Assert.Equal((0.9, 10), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput));
        Assert.Contains(reloads.GetMeasurementSnapshot(), m => (string)m.Tags["result"]! == "rejected");

        // The fix applies.
        await Write(Settings("0.3", "20", "00:03:00"));
        var fixedUp = await NextReload(provider, rejected);
        Assert.True(fixedUp.IsApplied, fixedUp.ToString());
        Assert.Equal((0.3, 20, TimeSpan.FromMinutes(3)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
        Assert.Equal(CircuitState.Open, breaker.State);
        Assert.Same(pipeline, provider.GetPipeline("orders"));
    }

    [Fact]
    public async Task A_file_written_in_two_steps_is_rejected_while_half_written_and_applied_once_complete()
    {
        await Write(Settings("0.5", "4", "00:01:00"));

        // Errors of a reload are ignored (a common setting, so a bad save does not throw on the watcher's thread): the
        // provider then signals the change with whatever it read, here nothing.
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(source =>
            {
                source.Path = _path;
                source.ReloadOnChange = true;
                source.ResolveFileProvider();
                source.OnLoadException = context => context.Ignore = true;
            })
            .Build();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton<TimeProvider>(new FakeTimeProvider())
            .AddResilience().Services
            .BuildServiceProvider();
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();
        var pipeline = provider.GetPipeline("orders");
        var breaker = ((CircuitBreakerStrategy)pipeline.Strategies[1]).Breaker;
        var bytes = System.Text.Encoding.UTF8.GetBytes(Settings("0.9", "10", "00:02:00"));

        // Written in place, in two steps: the watcher reads the first half before the second is written.
        await using (var stream = new FileStream(_path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            await stream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
            await stream.FlushAsync();
            var half = await NextReload(provider, null);
            Assert.False(half.IsApplied);
            Assert.Contains(half.Errors, error => error.StartsWith("Resilience is empty or missing", StringComparison.Ordinal));
            Assert.Equal((0.5, 4, TimeSpan.FromMinutes(1)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
            Assert.Equal(["Telemetry", "orders/CircuitBreaker", "orders/Timeout"], pipeline.Strategies.Select(s => s.Name));

            await stream.WriteAsync(bytes.AsMemory(bytes.Length / 2));
        }

        // The completed file applies (the watcher may have read the empty or half file more than once before).
        var last = provider.LastReload;
        var deadline = DateTime.UtcNow + Patience;
        while (last is not { IsApplied: true } && DateTime.UtcNow < deadline)
        {
            last = await NextReload(provider, last);
        }

        Assert.True(last!.IsApplied, last.ToString());
        Assert.Equal((0.9, 10, TimeSpan.FromMinutes(2)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
        Assert.Same(breaker, ((CircuitBreakerStrategy)pipeline.Strategies[1]).Breaker);
    }

    [Fact]
    public async Task A_half_written_file_read_by_a_reload_that_something_else_asks_for_is_rejected()
    {
        await Write(Settings("0.5", "4", "00:01:00"));
        var configuration = new ConfigurationBuilder().AddJsonFile(_path, optional: false, reloadOnChange: true).Build();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddSingleton<TimeProvider>(new FakeTimeProvider())
            .AddResilience().Services
            .BuildServiceProvider();
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();
        var breaker = ((CircuitBreakerStrategy)provider.GetPipeline("orders").Strategies[1]).Breaker;
        var bytes = System.Text.Encoding.UTF8.GetBytes(Settings("0.9", "10", "00:02:00"));

        await using (var stream = new FileStream(_path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            await stream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
            await stream.FlushAsync();

            // A file that does not parse leaves its provider empty without signalling a change: wait (bounded) until the
            // provider has read it.
            var deadline = DateTime.UtcNow + Patience;
            while (configuration["Resilience:Pipelines:orders:Timeout:Timeout"] is not null && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            Assert.Null(configuration["Resilience:Pipelines:orders:Timeout:Timeout"]);

            // A reload asked for meanwhile (an explicit one, or options pushed by code) reads the empty file.
            var reload = provider.Reload();
            var push = provider.UpdateOptions("Pipelines:orders:CircuitBreaker", new CircuitBreakerOptions { FailureRatio = 0.7 });

            Assert.False(reload.IsApplied);
            Assert.False(push.IsApplied);
            Assert.Equal((0.5, 4, TimeSpan.FromMinutes(1)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
            await stream.WriteAsync(bytes.AsMemory(bytes.Length / 2));
        }

        var applied = await NextReload(provider, provider.LastReload);
        Assert.True(applied.IsApplied, applied.ToString());
        Assert.Equal((0.9, 10, TimeSpan.FromMinutes(2)), (breaker.Options.FailureRatio, breaker.Options.MinimumThroughput, breaker.Options.BreakDuration));
    }

    [Fact]
    public async Task The_example_settings_of_the_configuration_page_are_valid()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "docs", "configuration.md")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        var page = await File.ReadAllTextAsync(Path.Combine(directory.FullName, "docs", "configuration.md"));
        var start = page.IndexOf("```json", StringComparison.Ordinal) + "```json".Length;
        await Write(page[start..page.IndexOf("```", start, StringComparison.Ordinal)]);
        var configuration = new ConfigurationBuilder().AddJsonFile(_path, optional: false, reloadOnChange: false).Build();
        using var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(configuration)
            .AddResiliencePipeline("checkout", (builder, context) => builder.AddStrategy(context.BindTimeout()))
            .BuildServiceProvider();
        var provider = services.GetRequiredService<ResiliencePipelineProvider>();

        Assert.Equal(
            ["Telemetry", "orders/TotalTimeout", "orders/Retry", "orders/CircuitBreaker", "database", "orders/Timeout"],
            provider.GetPipeline("orders").Strategies.Select(s => s.Name));
        Assert.Same(provider.GetRetryBudget("backend"), ((RetryStrategy)provider.GetPipeline("orders").Strategies[2]).Options.Budget);
        Assert.Equal(TimeSpan.FromSeconds(3), ((TimeoutStrategy)provider.GetPipeline("checkout").Strategies[1]).Timeout);
    }
}
