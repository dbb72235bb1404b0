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

    private ReloadSettings(Dictionary<string, string> values, bool hasMistake, bool mistakeMaskedByPush)
    {
        Values = values;
        HasMistake = hasMistake;
        MistakeMaskedByPush = mistakeMaskedByPush;
    }

    /// <summary>Gets whether the mistake is a breaker option out of range, which options pushed to the breaker stand in for.</summary>
    public bool MistakeMaskedByPush { get; }

    /// <summary>Gets every key's value.</summary>
    public Dictionary<string, string> Values { get; }

    /// <summary>Gets the sections pipeline <c>orders</c> lists, outermost first.</summary>
    public IReadOnlyList<string> OrdersStrategies =>
        [.. Values.Where(pair => pair.Key.StartsWith($"{Orders}:Strategies:", StringComparison.Ordinal)).OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => pair.Value)];

    /// <summary>Gets the values of one section, as a text that differs when any of them does.</summary>
    public string SectionText(string kind)
    {
        var path = Sections.Single(section => section.Kind == kind).Path + ":";
        return string.Join(";", Values.Where(pair => pair.Key.StartsWith(path, StringComparison.Ordinal)).OrderBy(pair => pair.Key, StringComparer.Ordinal).Select(pair => $"{pair.Key}={pair.Value}"));
    }

    /// <summary>Gets whether a value is wrong (or a key unknown): a reading must reject these settings.</summary>
    public bool HasMistake { get; }

    public static ReloadSettings Next(Random random, double mistakeChance)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [$"{Limits}:Strategies:0"] = "TokenBucket",
            [$"{Limits}:Strategies:1"] = "ConcurrencyLimiter",
        };

        // The pipeline's strategies change now and then (reordered, a timeout added or removed): it is rebuilt in place,
        // keeping the instances of the sections that keep their name and type.
        List<string> orders = random.Next(3) == 0 ? ["Timeout", "CircuitBreaker"] : ["CircuitBreaker", "Timeout"];
        if (random.Next(4) == 0)
        {
            orders.Insert(random.Next(orders.Count + 1), "Extra");
            values[$"{Orders}:Extra:Type"] = "Timeout";
            values[$"{Orders}:Extra:Timeout"] = "00:00:20";
        }

        for (var i = 0; i < orders.Count; i++)
        {
            values[$"{Orders}:Strategies:{i}"] = orders[i];
        }

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
        var maskedByPush = false;
        if (mistake && random.Next(5) == 0)
        {
            values[$"{Orders}:CircuitBreaker:FailureRaito"] = "0.5";
        }
        else if (mistake)
        {
            var (kind, path) = Sections[random.Next(Sections.Length)];
            var (option, _, invalid) = OptionSamples.ByKind[kind][random.Next(OptionSamples.ByKind[kind].Length)];
            var text = invalid[random.Next(invalid.Length)];
            values[$"{path}:{option}"] = text;

            // Options pushed to the breaker stand for its section's values: one that converts but is out of range is
            // not read while they are in force (one that does not convert, or an unknown key, is still refused).
            var type = typeof(CircuitBreakerOptions).GetProperty(option)?.PropertyType;
            maskedByPush = kind == "CircuitBreaker" && type is not null && ConfigurationMessages.ForUnparsable(path, type, text) is null;
        }

        return new ReloadSettings(values, mistake, maskedByPush);
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
