using System.Globalization;
using Resilience.Configuration;

namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// One version of a fixed layout's settings (a breaker and a timeout in pipeline <c>orders</c>, a token bucket and a
/// concurrency limiter in pipeline <c>limits</c>), each option set or not, to a valid text or, by chance, to a wrong one.
/// </summary>
internal sealed class ReloadSettings
{
    public const string Orders = "Resilience:Pipelines:orders";
    public const string Limits = "Resilience:Pipelines:limits";

    public static readonly (string Kind, string Path)[] Sections =
    [
        ("CircuitBreaker", $"{Orders}:CircuitBreaker"),
        ("Timeout", $"{Orders}:Timeout"),
        ("TokenBucket", $"{Limits}:TokenBucket"),
        ("ConcurrencyLimiter", $"{Limits}:ConcurrencyLimiter"),
    ];

    private ReloadSettings(Dictionary<string, string> values, bool hasMistake)
    {
        Values = values;
        HasMistake = hasMistake;
    }

    /// <summary>Gets every key's value.</summary>
    public Dictionary<string, string> Values { get; }

    /// <summary>Gets whether a value is wrong (or a key unknown): a reading must reject these settings.</summary>
    public bool HasMistake { get; }

    public static ReloadSettings Next(Random random, double mistakeChance)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [$"{Orders}:Strategies:0"] = "CircuitBreaker",
            [$"{Orders}:Strategies:1"] = "Timeout",
            [$"{Limits}:Strategies:0"] = "TokenBucket",
            [$"{Limits}:Strategies:1"] = "ConcurrencyLimiter",
        };
        foreach (var (kind, path) in Sections)
        {
            foreach (var (option, valid, _) in OptionSamples.ByKind[kind])
            {
                // The breaker's jitter seed is fixed at creation: set rarely, or most changes would be refused for it.
                if (random.NextDouble() < (option == nameof(CircuitBreakerOptions.JitterSeed) ? 0.05 : 0.35))
                {
                    values[$"{path}:{option}"] = valid[random.Next(valid.Length)];
                }
            }
        }

        var mistake = random.NextDouble() < mistakeChance;
        if (mistake && random.Next(5) == 0)
        {
            values[$"{Orders}:CircuitBreaker:FailureRaito"] = "0.5";
        }
        else if (mistake)
        {
            var (kind, path) = Sections[random.Next(Sections.Length)];
            var (option, _, invalid) = OptionSamples.ByKind[kind][random.Next(OptionSamples.ByKind[kind].Length)];
            values[$"{path}:{option}"] = invalid[random.Next(invalid.Length)];
        }

        return new ReloadSettings(values, mistake);
    }

    /// <summary>Gets the options these settings give a kind: defaults, then each option set, converted.</summary>
    public object OptionsOf(string kind)
    {
        var path = Sections.Single(section => section.Kind == kind).Path;
        object options = kind switch
        {
            "CircuitBreaker" => new CircuitBreakerOptions(),
            "Timeout" => new TimeoutOptions(),
            "TokenBucket" => new TokenBucketLimiterOptions(),
            _ => new InFlightLimiterOptions(),
        };
        foreach (var (option, _, _) in OptionSamples.ByKind[kind])
        {
            if (Values.TryGetValue($"{path}:{option}", out var text))
            {
                var property = options.GetType().GetProperty(option)!;
                Assert.True(OptionValue.TryConvert(property.PropertyType, text, out var converted), $"{path}:{option} = '{text}' is a valid sample but does not convert");
                property.SetValue(options, converted);
            }
        }

        return options;
    }

    public override string ToString() =>
        string.Join(", ", Values.Where(pair => !pair.Key.Contains(":Strategies:", StringComparison.Ordinal)).Select(pair => $"{pair.Key[(pair.Key.IndexOf("Pipelines:", StringComparison.Ordinal) + 10)..]}='{pair.Value}'"))
        + (HasMistake ? " (wrong)" : string.Empty)
        + string.Create(CultureInfo.InvariantCulture, $" [{Values.Count} keys]");
}
