using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;
using Resilience.DependencyInjection;

namespace Resilience.Tests.DependencyInjection;

/// <summary>The provider's watch on a configuration that outlives its container (one shared by many containers).</summary>
public class ConfigurationWatchLifetimeTests
{
    [Fact]
    public void Containers_created_and_disposed_over_one_configuration_leave_no_watch_on_it_even_when_their_start_fails()
    {
        var root = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Resilience:Pipelines:orders:Strategies:0"] = "ConcurrencyLimiter",
            ["Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit"] = "2",
        }).Build();
        var section = new WatchCountingConfiguration(root.GetSection("Resilience"));

        for (var i = 0; i < 100; i++)
        {
            var services = new ServiceCollection();
            services.AddResilience(section);
            var failing = i % 2 == 1;
            if (failing)
            {
                // A pipeline's code binds invalid options: resolving the provider fails after the watch has started.
                services.AddResiliencePipeline("checkout", (_, context) => context.BindConcurrencyLimiter(configure: options => options.PermitLimit = -1));
            }

            using (var container = services.BuildServiceProvider())
            {
                if (failing)
                {
                    Assert.Throws<OptionsValidationException>(() => container.GetRequiredService<ResiliencePipelineProvider>());
                    Assert.Equal(0, section.Watches);
                }
                else
                {
                    container.GetRequiredService<ResiliencePipelineProvider>().GetPipeline("orders").Execute(static _ => { });
                    Assert.Equal(1, section.Watches);
                }
            }

            Assert.Equal(0, section.Watches);
        }

        // A change signalled after every container is gone reaches no provider.
        root["Resilience:Pipelines:orders:ConcurrencyLimiter:PermitLimit"] = "3";
        root.Reload();
        Assert.Equal(0, section.Watches);
    }

    /// <summary>A configuration section that counts the change callbacks registered on its reload tokens and not yet disposed.</summary>
    private sealed class WatchCountingConfiguration(IConfigurationSection section) : IConfiguration
    {
        private int _watches;

        public int Watches => Volatile.Read(ref _watches);

        public string? this[string key]
        {
            get => section[key];
            set => section[key] = value;
        }

        public IEnumerable<IConfigurationSection> GetChildren() => section.GetChildren();

        public IConfigurationSection GetSection(string key) => section.GetSection(key);

        public IChangeToken GetReloadToken() => new CountedToken(this, section.GetReloadToken());

        private sealed class CountedToken(WatchCountingConfiguration owner, IChangeToken token) : IChangeToken
        {
            public bool HasChanged => token.HasChanged;

            public bool ActiveChangeCallbacks => token.ActiveChangeCallbacks;

            public IDisposable RegisterChangeCallback(Action<object?> callback, object? state)
            {
                Interlocked.Increment(ref owner._watches);
                return new Watch(owner, token.RegisterChangeCallback(callback, state));
            }
        }

        private sealed class Watch(WatchCountingConfiguration owner, IDisposable registration) : IDisposable
        {
            private int _disposed;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref _disposed, 1) == 0)
                {
                    Interlocked.Decrement(ref owner._watches);
                    registration.Dispose();
                }
            }
        }
    }
}
