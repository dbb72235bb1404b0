using System.Globalization;

namespace Resilience.Options;

/// <summary>
/// Validation shared by every options type: errors name the option (as <c>Type.Property</c>) and its allowed range, so a
/// bad value in code or configuration says exactly what to fix.
/// </summary>
internal static class OptionCheck
{
    public static void Ratio(double value, string option)
    {
        if (!(value > 0 && value <= 1))
        {
            throw Fail(option, "must be in (0, 1]", value.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void AtLeast(double value, double minimum, string option)
    {
        if (!(value >= minimum) || double.IsInfinity(value))
        {
            throw Fail(option, $"must be a finite number of at least {minimum.ToString(CultureInfo.InvariantCulture)}", value.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void InRange(double value, double minimum, double exclusiveMaximum, string option)
    {
        if (!(value >= minimum && value < exclusiveMaximum))
        {
            throw Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {exclusiveMaximum.ToString(CultureInfo.InvariantCulture)})", value.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void Between(double value, double minimum, double maximum, string option)
    {
        if (!(value >= minimum && value <= maximum))
        {
            throw Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {maximum.ToString(CultureInfo.InvariantCulture)}]", value.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void InRange(long value, long minimum, long maximum, string option)
    {
        if (value < minimum || value > maximum)
        {
            throw Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {maximum.ToString(CultureInfo.InvariantCulture)}]", value.ToString(CultureInfo.InvariantCulture));
        }
    }

    public static void Positive(TimeSpan value, string option) => InRange(value, TimeSpan.FromTicks(1), TimeSpan.MaxValue, option);

    public static void InRange(TimeSpan value, TimeSpan minimum, TimeSpan maximum, string option)
    {
        if (value < minimum || value > maximum)
        {
            var range = maximum == TimeSpan.MaxValue ? $"must be at least {Format(minimum)}" : $"must be in [{Format(minimum)}, {Format(maximum)}]";
            throw Fail(option, range, Format(value));
        }
    }

    public static ArgumentOutOfRangeException Fail(string option, string rule, string actual) =>
        new(option, $"{option} {rule}; was {actual}.");

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
