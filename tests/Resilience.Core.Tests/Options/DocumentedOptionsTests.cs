using System.Globalization;
using System.Reflection;
using Resilience.DependencyInjection;
using Resilience.Options;

namespace Resilience.Tests.Options;

/// <summary>
/// The options tables of docs/ and the XML summaries of the options' properties tell the truth: each documented
/// default is what a new options object holds, and each documented range is what <c>Validate()</c> enforces (a value
/// at an edge is accepted, one just past it is refused with a message naming the option).
/// </summary>
public sealed class DocumentedOptionsTests
{
    private static readonly Dictionary<string, (Type Options, string Page, string Heading)> Tables = new()
    {
        [nameof(CircuitBreakerOptions)] = (typeof(CircuitBreakerOptions), "circuit-breaker.md", "## Options"),
        [nameof(TokenBucketLimiterOptions)] = (typeof(TokenBucketLimiterOptions), "rate-limiting.md", "## Token bucket"),
        [nameof(InFlightLimiterOptions)] = (typeof(InFlightLimiterOptions), "rate-limiting.md", "## Concurrency limiter"),
        [nameof(TimeoutOptions)] = (typeof(TimeoutOptions), "timeout.md", "# Timeout"),
        [nameof(RetryOptions)] = (typeof(RetryOptions), "retry.md", "## Options"),
        [nameof(RetryBudgetOptions)] = (typeof(RetryBudgetOptions), "retry.md", "## Retry budget"),
        ["FallbackOptions"] = (typeof(FallbackOptions<string>), "fallback.md", "# Fallback"),
        [nameof(PipelineInstanceOptions)] = (typeof(PipelineInstanceOptions), "configuration.md", "## Instances per key"),
    };

    public static TheoryData<string> OptionsTypes => [.. Tables.Keys];

    [Fact]
    public void Every_exported_type_has_a_documented_table()
    {
        var exported = typeof(CircuitBreakerOptions).Assembly.GetExportedTypes()
            .Where(type => type.Name.Split('`')[0].EndsWith("Options", StringComparison.Ordinal))
            .Select(TypeName);

        Assert.Equal(exported.Order(), Tables.Keys.Order());
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void The_table_lists_every_option(string options)
    {
        var (type, page, heading) = Tables[options];

        var documented = DocumentedOption.ReadTable(page, heading).Select(row => row.Name);

        Assert.Equal(Properties(type).Select(property => property.Name).Order(), documented.Order());
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void Each_default_in_the_table_is_what_a_new_instance_holds(string options)
    {
        var (type, page, heading) = Tables[options];

        foreach (var row in DocumentedOption.ReadTable(page, heading))
        {
            var property = type.GetProperty(row.Name)!;
            AssertDefault(type, property, DocumentedDefault.Parse(row.Default, property), $"docs/{page}");
        }
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void Each_range_in_the_table_is_what_validation_enforces(string options)
    {
        var (type, page, heading) = Tables[options];

        foreach (var row in DocumentedOption.ReadTable(page, heading))
        {
            var property = type.GetProperty(row.Name)!;
            var range = DocumentedRange.Parse(row.Range);
            if (range is null)
            {
                // An option with a range must show it: only flags, clocks, names, references and delegates have none.
                var valueType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                Assert.False((valueType.IsPrimitive && valueType != typeof(bool)) || valueType.IsEnum || valueType == typeof(TimeSpan), $"docs/{page}: {row.Name} has no documented range.");
                continue;
            }

            AssertRange(type, property, range, $"docs/{page}");
        }
    }

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void Each_default_and_range_an_XML_summary_states_holds(string options)
    {
        var (type, _, _) = Tables[options];
        var checkedParts = 0;

        foreach (var property in Properties(type))
        {
            var documented = DocumentedOption.FromXmlDocs(property);
            if (documented.Default.Length > 0)
            {
                AssertDefault(type, property, DocumentedDefault.Parse(documented.Default, property), "XML docs");
                checkedParts++;
            }

            if (DocumentedRange.Parse(documented.Range) is { } range)
            {
                AssertRange(type, property, range, "XML docs");
                checkedParts++;
            }
        }

        Assert.True(checkedParts > 0, $"No XML summary of {TypeName(type)} states a default or a range.");
    }

    private static void AssertDefault(Type type, PropertyInfo property, DocumentedDefault documented, string source)
    {
        var options = Create(type);
        var actual = property.GetValue(options);
        var what = $"{source}: default of {TypeName(type)}.{property.Name}";
        if (documented.Required)
        {
            Assert.True(actual is System.Collections.IEnumerable items && !items.Cast<object>().Any(), $"{what}: a new instance's collection is not empty.");
            AssertRejected(options, property, "empty");
        }
        else if (documented.InstanceName is { } name)
        {
            Assert.True(actual is null, $"{what}: documented as the instance's name '{name}', but a new instance sets {actual}.");
            Assert.Equal(name, InstanceName(options));
        }
        else
        {
            // Documented as another option's value: unset, so that the other option's value applies.
            Assert.True(documented.FallsBackTo is null || actual is null, $"{what}: documented as {documented.FallsBackTo}, but a new instance sets {actual}.");
            Assert.True(Equals(documented.Value, actual), $"{what}: documented {documented.Value ?? "null"}, but a new instance holds {actual ?? "null"}.");
        }
    }

    private static void AssertRange(Type type, PropertyInfo property, DocumentedRange range, string source)
    {
        var valueType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        var defaults = Create(type);
        if (range.Names is { } names)
        {
            Assert.True(valueType.IsEnum, $"{source}: {property.Name} lists names but is no enumeration.");
            Assert.Equal(Enum.GetNames(valueType).Order(), names.Order());
            foreach (var name in names)
            {
                AssertAccepted(With(defaults, property, Enum.Parse(valueType, name)), property, name);
            }

            var beyond = Enum.GetValues(valueType).Cast<object>().Max(value => Convert.ToInt64(value, CultureInfo.InvariantCulture)) + 1;
            AssertRejected(With(defaults, property, Enum.ToObject(valueType, beyond)), property, beyond.ToString(CultureInfo.InvariantCulture));
            AssertRejected(With(defaults, property, Enum.ToObject(valueType, -1)), property, "-1");
            return;
        }

        if (range.Lower is { } lower)
        {
            var edge = DocumentedRange.Value(lower, valueType, defaults);
            AssertEdge(defaults, property, edge, outward: -1, range.LowerInclusive, source);
        }

        if (range.Upper is { } upper)
        {
            var edge = DocumentedRange.Value(upper, valueType, defaults);
            AssertEdge(defaults, property, edge, outward: +1, range.UpperInclusive, source);
        }

        if (valueType == typeof(double))
        {
            AssertRejected(With(defaults, property, double.NaN), property, "NaN");
        }

        if (range.CapOption is { } capOption)
        {
            // With the other option at 1, the cap is the factor itself.
            var other = type.GetProperty(capOption)!;
            var capped = With(defaults, other, Convert.ChangeType(1, other.PropertyType, CultureInfo.InvariantCulture));
            var cap = Convert.ChangeType(range.CapFactor, valueType, CultureInfo.InvariantCulture);
            AssertEdge(capped, property, cap, outward: +1, inclusive: true, source);
        }
    }

    // The edge is accepted and the value just past it refused, or, for an open bound, the edge refused and the value
    // just inside it accepted.
    private static void AssertEdge(object options, PropertyInfo property, object edge, int outward, bool inclusive, string source)
    {
        var (allowed, refused) = inclusive ? (edge, Step(edge, outward)) : (Step(edge, -outward), edge);
        if (allowed is not null)
        {
            AssertAccepted(With(options, property, allowed), property, $"{allowed} ({source})");
        }

        if (refused is not null)
        {
            AssertRejected(With(options, property, refused), property, $"{refused} ({source})");
        }
    }

    // The next representable value of a bound's type in a direction, or null past the type's own range.
    private static object? Step(object value, int direction) => value switch
    {
        int whole => (long)whole + direction is var next && next is >= int.MinValue and <= int.MaxValue ? (int)next : null,
        double number => direction < 0 ? Math.BitDecrement(number) : Math.BitIncrement(number),
        TimeSpan duration when (direction < 0 && duration == TimeSpan.MinValue) || (direction > 0 && duration == TimeSpan.MaxValue) => null,
        TimeSpan duration => duration + TimeSpan.FromTicks(direction),
        _ => throw new NotSupportedException($"A bound of type {value.GetType().Name}."),
    };

    private static void AssertAccepted(object options, PropertyInfo property, string value)
    {
        var prefix = $"{TypeName(options.GetType())}.{property.Name} ";
        var failures = Failures(options);
        Assert.False(failures.Any(failure => failure.StartsWith(prefix, StringComparison.Ordinal)), $"{prefix}= {value} is documented as allowed, but: {string.Join(" | ", failures)}");
    }

    private static void AssertRejected(object options, PropertyInfo property, string value)
    {
        var prefix = $"{TypeName(options.GetType())}.{property.Name} ";
        var failures = Failures(options);
        Assert.True(failures.Any(failure => failure.StartsWith(prefix, StringComparison.Ordinal)), $"{prefix}= {value} is documented as out of range, but validation reported: [{string.Join(" | ", failures)}]");
    }

    // Each error Validate() reports, as its message without the parameter suffix.
    private static List<string> Failures(object options)
    {
        try
        {
            options.GetType().GetMethod("Validate")!.Invoke(options, null);
            return [];
        }
        catch (TargetInvocationException exception) when (exception.InnerException is ArgumentException failure)
        {
            return failure is OptionsOutOfRangeException several
                ? [.. several.Failures.Select(OptionsOutOfRangeException.Single)]
                : [OptionsOutOfRangeException.Single(failure)];
        }
    }

    private static object With(object options, PropertyInfo property, object value)
    {
        var copy = Create(options.GetType());
        foreach (var other in Properties(options.GetType()).Where(other => other.CanWrite))
        {
            other.SetValue(copy, other.GetValue(options));
        }

        property.SetValue(copy, value);
        return copy;
    }

    private static string InstanceName(object options) => options switch
    {
        CircuitBreakerOptions breaker => new Resilience.CircuitBreaker(breaker).Name,
        TimeoutOptions timeout => new TimeoutStrategy(timeout).Name,
        RetryOptions retry => new RetryStrategy(retry).Name,
        _ => throw new NotSupportedException($"{options.GetType().Name} names no instance."),
    };

    private static object Create(Type type) => Activator.CreateInstance(type)!;

    private static IEnumerable<PropertyInfo> Properties(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance);

    private static string TypeName(Type type) => type.Name.Split('`')[0];
}
