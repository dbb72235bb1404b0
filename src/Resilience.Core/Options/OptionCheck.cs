using System.Globalization;

namespace Resilience.Options;

/// <summary>
/// Validation shared by every options type: errors name the option (as <c>Type.Property</c>) and its allowed range, so a
/// bad value in code or configuration says exactly what to fix.
/// </summary>
/// <remarks>
/// Each check throws when <c>failures</c> is <see langword="null"/>; otherwise it adds its error there and returns
/// <see langword="false"/>, so an options type can check every option and report all that are wrong at once
/// (<see cref="ThrowIfAny"/>).
/// </remarks>
internal static class OptionCheck
{
    public static bool Ratio(double value, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        value > 0 && value <= 1
        || Report(failures, Fail(option, "must be in (0, 1]", value.ToString(CultureInfo.InvariantCulture)));

    public static bool AtLeast(double value, double minimum, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        (value >= minimum && !double.IsInfinity(value))
        || Report(failures, Fail(option, $"must be a finite number of at least {minimum.ToString(CultureInfo.InvariantCulture)}", value.ToString(CultureInfo.InvariantCulture)));

    public static bool InRange(double value, double minimum, double exclusiveMaximum, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        (value >= minimum && value < exclusiveMaximum)
        || Report(failures, Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {exclusiveMaximum.ToString(CultureInfo.InvariantCulture)})", value.ToString(CultureInfo.InvariantCulture)));

    public static bool Between(double value, double minimum, double maximum, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        (value >= minimum && value <= maximum)
        || Report(failures, Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {maximum.ToString(CultureInfo.InvariantCulture)}]", value.ToString(CultureInfo.InvariantCulture)));

    public static bool InRange(long value, long minimum, long maximum, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        (value >= minimum && value <= maximum)
        || Report(failures, Fail(option, $"must be in [{minimum.ToString(CultureInfo.InvariantCulture)}, {maximum.ToString(CultureInfo.InvariantCulture)}]", value.ToString(CultureInfo.InvariantCulture)));

    public static bool Positive(TimeSpan value, string option, List<ArgumentOutOfRangeException>? failures = null) =>
        InRange(value, TimeSpan.FromTicks(1), TimeSpan.MaxValue, option, failures);

    public static bool InRange(TimeSpan value, TimeSpan minimum, TimeSpan maximum, string option, List<ArgumentOutOfRangeException>? failures = null)
    {
        if (value >= minimum && value <= maximum)
        {
            return true;
        }

        var range = maximum == TimeSpan.MaxValue ? $"must be at least {Format(minimum)}" : $"must be in [{Format(minimum)}, {Format(maximum)}]";
        return Report(failures, Fail(option, range, Format(value)));
    }

    public static ArgumentOutOfRangeException Fail(string option, string rule, string actual) =>
        new(option, $"{option} {rule}; was {actual}.");

    /// <summary>Throws the errors an options type collected: the error itself when there is one, all of them together otherwise.</summary>
    /// <param name="failures">The errors, in the order of the options.</param>
    /// <exception cref="ArgumentOutOfRangeException">There is an error.</exception>
    public static void ThrowIfAny(List<ArgumentOutOfRangeException> failures)
    {
        switch (failures.Count)
        {
            case 0:
                return;
            case 1:
                throw failures[0];
            default:
                throw new OptionsOutOfRangeException(failures);
        }
    }

    private static bool Report(List<ArgumentOutOfRangeException>? failures, ArgumentOutOfRangeException failure)
    {
        if (failures is null)
        {
            throw failure;
        }

        failures.Add(failure);
        return false;
    }

    private static string Format(TimeSpan value) => value.ToString("c", CultureInfo.InvariantCulture);
}
