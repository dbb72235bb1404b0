using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Resilience.Configuration;

/// <summary>Turns option errors into messages that name the configuration key to fix.</summary>
internal static class ConfigurationMessages
{
    /// <summary>
    /// Rewrites an options error (<c>CircuitBreakerOptions.FailureRatio must be in (0, 1]; was 1.5.</c>) to name the key:
    /// <c>Resilience:Pipelines:orders:CircuitBreaker:FailureRatio must be in (0, 1]; was 1.5.</c>
    /// </summary>
    public static string ForKey(string sectionPath, ArgumentException exception)
    {
        var message = exception.Message;
        if (exception.ParamName is { } option)
        {
            var suffix = $" (Parameter '{option}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal))
            {
                message = message[..^suffix.Length];
            }

            var property = option[(option.LastIndexOf('.') + 1)..];
            if (message.StartsWith(option, StringComparison.Ordinal))
            {
                return $"{sectionPath}:{property}{message[option.Length..]}";
            }
        }

        return $"{sectionPath}: {message}";
    }

    /// <summary>
    /// Checks that a value converts to an option's type as the binder converts it (the type's converter, invariant
    /// culture); if not, says what form it must take: the binder's own message names the type, not the form.
    /// </summary>
    /// <returns>The message, or <see langword="null"/> when the value converts.</returns>
    public static string? ForUnparsable(string path, Type type, string value)
    {
        const string Duration = "a duration written [d.]hh:mm:ss[.fffffff] (for example 00:00:05)";
        if (OptionValue.TryConvert(type, value, out var converted))
        {
            if (converted is TimeSpan duration && !value.Contains(':', StringComparison.Ordinal))
            {
                // The converter reads a bare number as days: "5" meant as seconds would wait five days. Both readings are
                // offered, without judging either: whether the option takes days is for its range check to say.
                var read = duration.ToString("c", CultureInfo.InvariantCulture);
                var asSeconds = duration.Days <= TimeSpan.MaxValue.TotalSeconds / TimeSpan.SecondsPerDay
                    ? $"{TimeSpan.FromSeconds(duration.Days).ToString("c", CultureInfo.InvariantCulture)} for {Count(duration.Days, "second")}, "
                    : string.Empty;
                return $"{path} must be {Duration}; was '{value}', which reads as {read} (without ':' it counts days); write {asSeconds}{read} for {Count(duration.Days, "day")}.";
            }

            return null;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        var form = type switch
        {
            _ when type == typeof(TimeSpan) => Duration,
            _ when type == typeof(bool) => "true or false",
            _ when type.IsEnum => $"one of: {string.Join(", ", Enum.GetNames(type))}",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number written with '.' as the decimal separator (for example 0.5)",
            // A whole number too large (or small) for the option's type: the range it holds is what to learn.
            _ when OptionValue.IntegerRange(type) is { } range && decimal.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                => $"a whole number in [{range.Min.ToString(CultureInfo.InvariantCulture)}, {range.Max.ToString(CultureInfo.InvariantCulture)}]",
            _ => "a whole number",
        };
        return $"{path} must be {form}; was '{value}'.";
    }

    private static string Count(int count, string unit) => count == 1 ? $"1 {unit}" : $"{count} {unit}s";

    /// <summary>Gets the path of a key under the resilience section, whose path is empty when a configuration root is bound.</summary>
    public static string PathOf(string rootPath, string key) => rootPath.Length == 0 ? key : $"{rootPath}:{key}";

    /// <summary>Gets whether a section holds any value: one whose keys were all emptied counts as absent.</summary>
    public static bool HasValues(IConfiguration section) =>
        section.AsEnumerable().Any(pair => pair.Value is not null);

    /// <summary>A stable text of every value under a section, to tell whether it changed.</summary>
    public static string Fingerprint(IConfiguration? section)
    {
        if (section is null)
        {
            return string.Empty;
        }

        var pairs = section.AsEnumerable(makePathsRelative: true)
            .Where(pair => pair.Value is not null)
            .Select(pair => $"{pair.Key}={pair.Value}")
            .Order(StringComparer.OrdinalIgnoreCase);
        return string.Join('\n', pairs);
    }
}
