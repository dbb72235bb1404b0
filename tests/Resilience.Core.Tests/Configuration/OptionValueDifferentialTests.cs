using System.ComponentModel;
using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Configuration;
using Resilience.Configuration;

namespace Resilience.Tests.Configuration;

/// <summary>
/// Configuration values are converted without reflection (so trimmed and natively compiled applications can bind them):
/// every value must still read as <c>ConfigurationBinder</c> reads it, through the type's converter in the invariant
/// culture. Random and hand-picked texts go through both, for every type an option has.
/// </summary>
public class OptionValueDifferentialTests
{
    private const string Seed = "(1618033988,1414213563)";

    private static readonly Type[] OptionTypes =
    [
        typeof(int), typeof(int?), typeof(double), typeof(TimeSpan), typeof(TimeSpan?), typeof(bool),
        typeof(QueueProcessingOrder), typeof(RetryBackoff), typeof(long), typeof(uint), typeof(short), typeof(byte),
        typeof(sbyte), typeof(ushort), typeof(ulong), typeof(float), typeof(decimal), typeof(string),
    ];

    private static readonly string[] Tricky =
    [
        "", " ", "0", "-0", "+5", " 5 ", "5.", ".5", "1e3", "1E-3", "1,000", "0x10", "0X1f", "&h1F", "#FF", "0xFFFFFFFF",
        "0x7FFFFFFF", "0x80000000", "0xFFFFFFFFFFFFFFFF", "0x1FFFFFFFF", "#-1", "0x-1", "0x", "#", "2147483647",
        "2147483648", "-2147483649", "9223372036854775808", "255", "256", "-129", "NaN", "Infinity", "-Infinity", "∞",
        "true", "False", " TRUE ", "yes", "1", "00:00:05", "5", "1.02:03:04.5", "-00:00:01", "10675199.02:48:05.4775807",
        "10675199.02:48:05.4775808", "24:00:00", "0:60:00", "oldestfirst", "NewestFirst", "OldestFirst, NewestFirst", "7",
        "-1", "exponential", "Linear ", " constant", "Exponential,Linear", "1.5", "1,5", "0.1e1", "$5", "5%", "(5)", "#+5", "0x+5",
        "#0X1f", "0x0x1f", "0x 1", "1,000, 2", "OldestFirst,,",
    ];

    private static Arbitrary<string> Texts =>
        Gen.OneOf(
            Gen.Elements(Tricky),
            Gen.ArrayOf(Gen.Elements("0123456789.-+eE: ,xX#&hHaAfF".ToCharArray())).Select(chars => new string(chars)),
            Gen.Elements(Tricky).SelectMany(left => Gen.Elements(Tricky).Select(right => left + right)))
        .ToArbitrary();

    [Property(MaxTest = 2000, Replay = Seed)]
    public Property Every_text_converts_as_the_binder_converts_it() =>
        Prop.ForAll(Texts, text => OptionTypes.All(type => AgreesWithBinder(type, text)).Label($"'{text}'"));

    [Fact]
    public void The_hand_picked_texts_convert_as_the_binder_converts_them()
    {
        foreach (var type in OptionTypes)
        {
            foreach (var text in Tricky)
            {
                Assert.True(AgreesWithBinder(type, text), $"{type.Name} '{text}'");
            }
        }
    }

    [Fact]
    public void Every_option_configuration_may_set_has_a_type_converted_without_reflection()
    {
        var properties = ComponentKind.All.SelectMany(kind => kind.Properties).ToList();

        Assert.NotEmpty(properties);
        Assert.All(properties, property => Assert.Contains(property.PropertyType, OptionTypes));
        Assert.All(properties, property => Assert.True(OptionValue.IsSupported(property.PropertyType), property.Name));
    }

    [Fact]
    public void A_section_binds_to_the_options_the_binder_gives()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Root:FailureRatio"] = "0.25",
            ["Root:MinimumThroughput"] = " 0x10 ",
            ["Root:SamplingDuration"] = "00:00:30",
            ["Root:SlowCallDuration"] = "00:00:00.250",
            ["Root:SlowCallRatio"] = "5E-1",
            ["Root:ProbeTimeout"] = "",
            ["Root:JitterSeed"] = "-7",
            ["Root:BreakDurationMultiplier"] = " 2 ",
        }).Build().GetSection("Root");

        var ours = (CircuitBreakerOptions)ComponentKind.CircuitBreaker.Bind(configure: null, section, new HashSet<string>());
        var binders = section.Get<CircuitBreakerOptions>()!;

        Assert.Equal(16, ours.MinimumThroughput);
        Assert.Equal(TimeSpan.FromMilliseconds(250), ours.SlowCallDuration);
        Assert.Null(ours.ProbeTimeout);
        Assert.Equal(-7, ours.JitterSeed);
        Assert.Equal(2, ours.BreakDurationMultiplier);
        Assert.True(ComponentKind.CircuitBreaker.SameSettings(binders, ours));
    }

    private static bool AgreesWithBinder(Type type, string text)
    {
        var ours = OptionValue.TryConvert(type, text, out var converted);
        var binders = BinderConversion(type, text, out var expected);
        return ours == binders && Equals(converted, expected);
    }

    /// <summary>What the binder does with a value for a property of <paramref name="type"/>.</summary>
    private static bool BinderConversion(Type type, string text, out object? converted)
    {
        converted = null;
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null && string.IsNullOrEmpty(text))
        {
            return true;
        }

        try
        {
            converted = TypeDescriptor.GetConverter(underlying ?? type).ConvertFromInvariantString(text);
            return true;
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException or OverflowException or NotSupportedException)
        {
            return false;
        }
    }
}
