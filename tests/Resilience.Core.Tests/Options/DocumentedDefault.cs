using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Resilience.Tests.Options;

/// <summary>
/// A documented default, read from its text: a value (<c>0.5</c>, <c>10 s</c>, <c>`Exponential`</c>, <c>true</c>), unset
/// (<c>off</c>, <c>none</c>, <c>random</c>, <c>null</c>, <c>the pipeline's clock</c>), another option whose value an unset
/// one takes (<c>`BreakDuration`</c>), the name an instance takes when none is set (<c>`CircuitBreaker`</c>), or a
/// collection that must be filled (<c>(required)</c>). A trailing remark in parentheses (<c>0 (off)</c>) is not part of it.
/// </summary>
internal sealed partial record DocumentedDefault(object? Value, string? FallsBackTo, string? InstanceName, bool Required)
{
    /// <summary>Reads a default for a property; throws <see cref="FormatException"/> on text that is none of the documented forms.</summary>
    public static DocumentedDefault Parse(string text, PropertyInfo property)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        text = text.Trim();
        if (text == "(required)" && type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type))
        {
            return new DocumentedDefault(null, null, null, Required: true);
        }

        text = Remark().Replace(text, string.Empty);
        if (text is "off" or "none" or "random" or "null" || (type == typeof(TimeProvider) && text.StartsWith("the pipeline's clock", StringComparison.Ordinal)))
        {
            return new DocumentedDefault(null, null, null, false);
        }

        var word = text.Trim('`');
        if (type == typeof(string))
        {
            return new DocumentedDefault(null, null, word, false);
        }

        if (text.StartsWith('`') && property.DeclaringType!.GetProperty(word) is { } other && other != property)
        {
            return new DocumentedDefault(null, other.Name, null, false);
        }

        object value = type switch
        {
            _ when type == typeof(bool) => bool.Parse(word),
            _ when type.IsEnum => Enum.Parse(type, word),
            _ when type == typeof(TimeSpan) => word is "0" or "zero" ? TimeSpan.Zero : Duration(word),
            _ when type.IsPrimitive => Convert.ChangeType(word == "zero" ? 0 : double.Parse(word, NumberStyles.Float, CultureInfo.InvariantCulture), type, CultureInfo.InvariantCulture),
            _ => throw new FormatException($"'{text}' is no documented form of a default of {type.Name}."),
        };
        return new DocumentedDefault(value, null, null, false);
    }

    /// <summary>Reads a documented duration: <c>1 tick</c>, <c>200 ms</c>, <c>10 s</c>, <c>5 min</c>, <c>1 h</c>, <c>1 day</c>.</summary>
    public static TimeSpan Duration(string text)
    {
        var match = DurationText().Match(text.Trim());
        if (!match.Success)
        {
            throw new FormatException($"'{text}' is no documented form of a duration.");
        }

        var amount = double.Parse(match.Groups["amount"].Value, CultureInfo.InvariantCulture);
        return match.Groups["unit"].Value switch
        {
            "tick" or "ticks" => TimeSpan.FromTicks((long)amount),
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" => TimeSpan.FromSeconds(amount),
            "min" => TimeSpan.FromMinutes(amount),
            "h" => TimeSpan.FromHours(amount),
            _ => TimeSpan.FromDays(amount),
        };
    }

    [GeneratedRegex(@"\s*\([^)]*\)$")]
    private static partial Regex Remark();

    [GeneratedRegex(@"^(?<amount>\d+(?:\.\d+)?) ?(?<unit>ticks?|ms|s|min|h|days?)$")]
    private static partial Regex DurationText();
}
