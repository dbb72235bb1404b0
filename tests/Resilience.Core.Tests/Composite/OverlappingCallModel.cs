namespace Resilience.Tests.Composite;

/// <summary>
/// One call of <see cref="OverlappingCallsModel"/>: its key and value, where it rests, the passes through the retry and
/// the attempts that reached the callback so far, what its current pass holds (the breaker's permit, its timeout, its
/// bucket slot) and, once done, what its caller gets.
/// </summary>
internal sealed class OverlappingCallModel(int index, string key, int value, bool ignoresToken, bool cancellable)
{
    public int Index { get; } = index;

    public string Key { get; } = key;

    public int Value { get; } = value;

    /// <summary>Gets whether its attempts ignore their token: a timeout or the caller's cancellation does not end them.</summary>
    public bool IgnoresToken { get; } = ignoresToken;

    /// <summary>Gets whether the caller passed a token it can cancel (otherwise <see cref="CancellationToken.None"/>: it never cancels).</summary>
    public bool Cancellable { get; } = cancellable;

    /// <summary>Gets or sets whether the caller has cancelled the call.</summary>
    public bool CallerCancelled { get; set; }

    public OverlappingStage Stage { get; set; }

    /// <summary>Passes through the strategies inside the retry (attempts, rejections included).</summary>
    public int Passes { get; set; }

    /// <summary>Attempts that reached the callback.</summary>
    public int Attempts { get; set; }

    public (uint Generation, bool Probe, bool Timed) Permit { get; set; }

    /// <summary>When the current pass entered the breaker (what a slow call is measured from).</summary>
    public long PassStart { get; set; }

    /// <summary>Holds a permit of the concurrency limiter, given back when the call ends.</summary>
    public bool HoldsPermit { get; set; }

    /// <summary>The current pass's own timeout (a caller that can cancel: a source of its own).</summary>
    public OverlappingTimer? Deadline { get; set; }

    /// <summary>The shared timeout slot the current pass started in (a caller that cannot cancel).</summary>
    public OverlappingTimeoutSlot? TimeoutSlot { get; set; }

    /// <summary>The timeout the current pass was armed with (what a <see cref="TimeoutRejectedException"/> reports).</summary>
    public TimeSpan ArmedTimeout { get; set; }

    public OverlappingTimer? Waiting { get; set; }

    public TokenBucketModelSlot Slot { get; set; }

    /// <summary>The value the caller gets, with the fallback level that served it (<see langword="null"/>: the call).</summary>
    public (int Value, int? Level)? Result { get; set; }

    /// <summary>The failure the fallback replaced: its exception's type (none for a result judged a failure).</summary>
    public Type? Replaced { get; set; }

    /// <summary>Gets or sets whether the caller gets a rejection (the concurrency limiter's: its queue full, or the wait timed out).</summary>
    public bool Rejected { get; set; }

    /// <summary>The type of the exception the caller gets instead of a value.</summary>
    public Type? Exception { get; set; }

    public override string ToString() =>
        $"call {Index} ({Key}{(IgnoresToken ? ", ignoring its token" : string.Empty)}{(Cancellable ? string.Empty : ", not cancellable")}{(CallerCancelled ? ", cancelled" : string.Empty)}): {Stage}, {Attempts} attempt(s) in {Passes} pass(es)"
        + (Result is { } r ? $", value {r.Value} from {(r.Level is { } level ? $"level {level} replacing {Replaced?.Name ?? "a failed result"}" : "the call")}" : string.Empty)
        + (Exception is { } e ? $", {e.Name}{(e == typeof(TimeoutRejectedException) ? $" after {ArmedTimeout}" : string.Empty)}" : string.Empty)
        + (Rejected ? ", rejected" : string.Empty);
}
