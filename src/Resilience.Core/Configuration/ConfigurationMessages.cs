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
