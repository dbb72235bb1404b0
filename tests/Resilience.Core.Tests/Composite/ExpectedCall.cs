namespace Resilience.Tests.Composite;

/// <summary>
/// What the reference model says a call ends with: how many attempts reached the callback, the value the caller gets
/// and the fallback level that served it (<see langword="null"/>: the call itself), or the type of the exception the
/// caller gets instead (for a timeout, the timeout it reports); the failure the fallback replaced (its exception's type and retry-after, as <c>OnServed</c> is
/// told; no type for a result judged a failure); the retry delays waited, in order; and the time (in ticks of the
/// clock) at which the call ended.
/// </summary>
internal sealed record ExpectedCall(int Attempts, int? Value, int? Level, Type? Exception, (Type? Type, TimeSpan? RetryAfter) Replaced, IReadOnlyList<TimeSpan> Delays, long End)
{
    public TimeSpan? TimedOutAfter { get; init; }


    public override string ToString() =>
        $"{Attempts} attempt(s), "
        + (Exception is { } type ? type.Name + (TimedOutAfter is { } timeout ? $" after {timeout}" : string.Empty) : $"value {Value} from {(Level is { } level ? $"level {level} replacing {Replaced.Type?.Name ?? "a failed result"} (retry-after {Replaced.RetryAfter})" : "the call")}")
        + $", delays [{string.Join(", ", Delays)}], ending at {End}";
}
