namespace Resilience.Options;

/// <summary>
/// Several options of one options object out of their ranges: the message lists each error on its own line, and
/// <see cref="ArgumentException.ParamName"/> names the first option, so code that catches the single error reads it as before.
/// </summary>
internal sealed class OptionsOutOfRangeException : ArgumentOutOfRangeException
{
    private readonly string _message;

    public OptionsOutOfRangeException(IReadOnlyList<ArgumentOutOfRangeException> failures)
        : base(failures[0].ParamName)
    {
        Failures = failures;
        var type = failures[0].ParamName is { } option && option.IndexOf('.') is > 0 and var dot ? option[..dot] : "The options";
        _message = $"{type} has {failures.Count} options out of range:{Environment.NewLine}{string.Join(Environment.NewLine, failures.Select(failure => Single(failure)))}";
    }

    /// <summary>Gets each error, in the order of the options.</summary>
    public IReadOnlyList<ArgumentOutOfRangeException> Failures { get; }

    /// <inheritdoc />
    public override string Message => _message;

    /// <summary>Gets an error's message without the parameter the runtime appends (the message already names it).</summary>
    public static string Single(ArgumentException failure)
    {
        var message = failure.Message;
        var suffix = failure.ParamName is { } option ? $" (Parameter '{option}')" : null;
        return suffix is not null && message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
    }
}
