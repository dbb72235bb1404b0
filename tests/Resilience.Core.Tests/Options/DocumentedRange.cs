using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Resilience.Tests.Options;

/// <summary>
/// A documented range, read from its text: <c>(0, 1]</c>, <c>[1 ms × `BucketCount`, 1 day]</c>, <c>[`BreakDuration`, 1 day]</c>,
/// <c>&gt; 0</c>, <c>any `int`</c>, a list of enumeration names, with an optional cap by another option
/// (<c>and at most `PermitsPerSecond` × 315,360,000</c>). Bounds are read against an options object, since some are
/// other options.
/// </summary>
internal sealed partial record DocumentedRange(
    string? Lower,
    bool LowerInclusive,
    string? Upper,
    bool UpperInclusive,
    IReadOnlyList<string>? Names,
    string? CapOption,
    double CapFactor)
{
    /// <summary>Reads a range; throws <see cref="FormatException"/> on text that is none of the documented forms.</summary>
    /// <returns>The range, or <see langword="null"/> for an empty cell.</returns>
    public static DocumentedRange? Parse(string text)
    {
        text = text.Trim();
        if (text.Length == 0)
        {
            return null;
        }

        if (text == "any `int`")
        {
            return new DocumentedRange(int.MinValue.ToString(CultureInfo.InvariantCulture), true, int.MaxValue.ToString(CultureInfo.InvariantCulture), true, null, null, 0);
        }

        if (text.StartsWith("> ", StringComparison.Ordinal))
        {
            return new DocumentedRange(text[2..].Trim(), false, null, false, null, null, 0);
        }

        if (Interval().Match(text) is { Success: true } interval)
        {
            var cap = Cap().Match(interval.Groups["rest"].Value);
            return new DocumentedRange(
                interval.Groups["lower"].Value.Trim(),
                interval.Groups["open"].Value == "[",
                interval.Groups["upper"].Value.Trim(),
                interval.Groups["close"].Value == "]",
                null,
                cap.Success ? cap.Groups["option"].Value : null,
                cap.Success ? double.Parse(cap.Groups["factor"].Value.Replace(",", string.Empty, StringComparison.Ordinal), CultureInfo.InvariantCulture) : 0);
        }

        if (NameList().Match(text) is { Success: true } names)
        {
            return new DocumentedRange(null, false, null, false, [.. names.Groups["name"].Captures.Select(capture => capture.Value)], null, 0);
        }

        throw new FormatException($"'{text}' is no documented form of a range.");
    }

    /// <summary>Reads a bound as a value of the option's type: a number, a duration, another option, or a duration times another option.</summary>
    public static object Value(string bound, Type type, object options)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        bound = bound.Replace("`", string.Empty, StringComparison.Ordinal).Trim();
        if (bound.Split(" × ") is [var unit, var factor])
        {
            var duration = (TimeSpan)Value(unit, typeof(TimeSpan), options);
            return duration * Convert.ToDouble(Value(factor, typeof(double), options), CultureInfo.InvariantCulture);
        }

        if (options.GetType().GetProperty(bound, BindingFlags.Public | BindingFlags.Instance) is { } other)
        {
            var value = other.GetValue(options)!;
            return type == typeof(TimeSpan) ? value : Convert.ChangeType(value, type, CultureInfo.InvariantCulture);
        }

        if (type == typeof(TimeSpan))
        {
            return bound == "0" ? TimeSpan.Zero : DocumentedDefault.Duration(bound);
        }

        var number = bound == "int.MaxValue" ? int.MaxValue : double.Parse(bound, NumberStyles.Float, CultureInfo.InvariantCulture);
        return type == typeof(double) ? number : Convert.ChangeType(number, type, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^(?<open>[\[(])(?<lower>[^,\])]+),(?<upper>[^\])]+)(?<close>[\])])(?<rest>.*)$")]
    private static partial Regex Interval();

    [GeneratedRegex(@"at most `?(?<option>\w+)`? × (?<factor>[\d,]+)")]
    private static partial Regex Cap();

    [GeneratedRegex(@"^`(?<name>\w+)`(?:, `(?<name>\w+)`)*(?: \(.*\))?$")]
    private static partial Regex NameList();
}
