using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Resilience.DependencyInjection;
using Resilience.Telemetry;

namespace Resilience.Tests.DependencyInjection;

/// <summary>A container with in-memory configuration under "Resilience", a fake clock, metrics and a fake logger.</summary>
internal sealed class TestContainer : IDisposable
{
    private readonly ServiceProvider _services;

    public TestContainer(IDictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        Configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(Configuration)
            .AddSingleton<TimeProvider>(Time)
            .AddLogging(builder => builder.AddProvider(Logs))
            .AddMetrics();
        services.AddResilience();
        configure?.Invoke(services);
        _services = services.BuildServiceProvider();
    }

    public IConfigurationRoot Configuration { get; }

    public FakeTimeProvider Time { get; } = new();

    public FakeLoggerProvider Logs { get; } = new();

    public IServiceProvider Services => _services;

    public ResiliencePipelineProvider Provider => _services.GetRequiredService<ResiliencePipelineProvider>();

    public ResilienceTelemetry Telemetry => _services.GetRequiredService<ResilienceTelemetry>();

    /// <summary>Sets values (null empties a key) and signals a configuration change, as a file or remote provider would.</summary>
    public void Change(params (string Key, string? Value)[] values)
    {
        foreach (var (key, value) in values)
        {
            Configuration[key] = value;
        }

        Configuration.Reload();
    }

    public MetricCollector<long> Reloads() => new(Telemetry.Meter, "resilience.config.reloads");

    public void Dispose()
    {
        _services.Dispose();
        Logs.Dispose();
    }
}
