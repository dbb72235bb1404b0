using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Resilience.Configuration;
using Resilience.DependencyInjection;
using Resilience.Tests.DependencyInjection;

namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// Random resilience sections, valid and perturbed, built through <c>AddResilience()</c>: each either builds pipelines
/// whose instances hold exactly what the section says, or is refused with an <see cref="OptionsValidationException"/>
/// whose errors name the key of every mistake; never another exception, never a mistake accepted in silence.
/// </summary>
public class ConfigurationTreeFuzzTests
{
    private const string Seed = "(20261130,1729)";

    private static Arbitrary<int> Seeds => Gen.Choose(0, int.MaxValue).ToArbitrary();

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Every_tree_builds_what_it_says_or_is_refused_naming_each_mistake() =>
        Prop.ForAll(Seeds, seed =>
        {
            var tree = new ConfigurationTreeGenerator(seed, invalidChance: 0.5).Next();
            return Check(tree, ownRoot: false).Label($"seed {seed}:{Environment.NewLine}{tree}");
        });

    /// <summary>The same trees in a configuration root of their own (a file holding only resilience settings), bound with
    /// <c>BindConfiguration</c>: errors name the keys as that root has them, without a <c>Resilience:</c> prefix.</summary>
    [Property(MaxTest = 200, Replay = Seed)]
    public Property Every_tree_in_a_root_of_its_own_builds_what_it_says_or_is_refused_naming_each_mistake() =>
        Prop.ForAll(Seeds, seed =>
        {
            var tree = new ConfigurationTreeGenerator(seed, invalidChance: 0.5).Next();
            return Check(tree, ownRoot: true).Label($"seed {seed}:{Environment.NewLine}{tree}");
        });

    /// <summary>Builds a tree and asserts the outcome: refused naming every mistake, or built as the tree says.</summary>
    internal static bool Check(ConfigurationTree tree, bool ownRoot)
    {
        // In a root of its own, the settings and the keys errors name have no "Resilience:" prefix.
        string Key(string key) => ownRoot ? key["Resilience:".Length..] : key;
        var root = new ConfigurationBuilder().AddInMemoryCollection(tree.Settings.Select(pair => KeyValuePair.Create(Key(pair.Key), pair.Value))).Build();
        void Configure(IServiceCollection services)
        {
            if (ownRoot)
            {
                services.AddResilience().BindConfiguration(root);
            }

            if (tree.HasCodePipeline)
            {
                services.AddResiliencePipeline("code", (builder, context) => builder
                    .AddCircuitBreaker(context.BindCircuitBreaker(configure: options => options.MinimumThroughput = 5))
                    .AddStrategy(context.BindTimeout("Deadline")));
            }
        }

        using var container = new TestContainer(ownRoot ? new Dictionary<string, string?>() : tree.ToDictionary(), Configure);
        ResiliencePipelineProvider provider;
        try
        {
            provider = container.Provider;
        }
        catch (OptionsValidationException exception)
        {
            var errors = exception.Failures.ToList();
            Assert.False(tree.IsValid, $"a valid tree was refused:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");

            // Each error starts with the key to fix: one the tree has, or a section of one.
            var keys = tree.Settings.Select(pair => Key(pair.Key)).ToList();
            Assert.All(errors, error => Assert.True(
                keys.Any(key => key.StartsWith(error.Split(' ')[0].TrimEnd(':'), StringComparison.OrdinalIgnoreCase)),
                $"error does not start with a key of the tree: {error}"));
            Assert.All(tree.Rejected.Select(Key), path => Assert.True(
                errors.Any(error => error.Contains(path, StringComparison.OrdinalIgnoreCase)),
                $"no error names {path}:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}"));
            return true;
        }

        Assert.True(tree.IsValid, $"mistakes accepted in silence: {string.Join(", ", tree.Rejected)}");
        var pipelines = tree.HasCodePipeline ? tree.Pipelines.Append(KeyValuePair.Create("code", ConfigurationTree.CodeSections.ToList())) : tree.Pipelines;
        foreach (var (name, strategies) in pipelines)
        {
            var live = LiveOptions.StrategiesOf(provider.GetPipeline(name));
            Assert.Equal(strategies.Count, live.Count);
            for (var i = 0; i < strategies.Count; i++)
            {
                var instance = LiveOptions.InstanceOf(live[i]);
                Assert.True(LiveOptions.IsKind(instance, strategies[i].Kind), $"{name}/{i} is a {instance.GetType().Name}, not a {strategies[i].Kind}");
                if (strategies[i].Shared is { } shared)
                {
                    Assert.Same(LiveOptions.Shared(provider, strategies[i].Kind, shared[(shared.IndexOf('/') + 1)..]), instance);
                }
            }
        }

        foreach (var option in tree.Options)
        {
            var owner = option.Owner.Split('/');
            var instance = tree.Pipelines.ContainsKey(owner[0]) || owner[0] == "code"
                ? LiveOptions.InstanceOf(LiveOptions.StrategiesOf(provider.GetPipeline(owner[0]))[int.Parse(owner[1], System.Globalization.CultureInfo.InvariantCulture)])
                : LiveOptions.Shared(provider, owner[0], owner[1]);
            if (LiveOptions.Of(instance) is not { } options)
            {
                continue;
            }

            var property = options.GetType().GetProperty(option.Option)!;
            Assert.True(OptionValue.TryConvert(property.PropertyType, option.Text, out var expected), $"{option} does not convert");
            Assert.Equal(expected, property.GetValue(options));
        }

        Assert.NotNull(provider.GetHealth());
        return true;
    }
}
