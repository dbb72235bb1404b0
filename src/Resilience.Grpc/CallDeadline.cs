using Grpc.Core;

namespace Resilience.Grpc;

/// <summary>
/// A call's deadline as a token: it bounds the whole call, attempts and the delays between them, as gRPC's own retries
/// do. Linked into the pipeline's caller token, the deadline ends the call like the caller's cancellation: not retried
/// (an attempt past it would fail at once without reaching the server) and never counted as a failure.
/// </summary>
internal sealed class CallDeadline : IDisposable
{
    // The longest delay a CancellationTokenSource can time (about 49 days); a later deadline is left to gRPC alone.
    private static readonly TimeSpan MaxTimedDelay = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly CancellationTokenSource _source;
    private readonly DateTime _deadline;

    private CallDeadline(DateTime deadline, TimeSpan remaining)
    {
        _deadline = deadline;
        _source = new CancellationTokenSource(remaining);
    }

    /// <summary>Gets a token cancelled when the deadline passes.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Gets whether the deadline has passed (its timer fired, or gRPC reported it first).</summary>
    public bool HasPassed => _source.IsCancellationRequested;

    /// <summary>
    /// Returns a call's deadline, or <see langword="null"/> when it has none (or one too far to time, or one gRPC refuses:
    /// a deadline that is not UTC, which gRPC refuses when the call starts, is not read here as a UTC time hours off).
    /// </summary>
    public static CallDeadline? Of(DateTime? deadline)
    {
        if (deadline is not { } at || at == DateTime.MaxValue || !IsUtc(at))
        {
            return null;
        }

        var remaining = at - DateTime.UtcNow;
        return remaining <= MaxTimedDelay ? new CallDeadline(at, remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining) : null;
    }

    /// <summary>
    /// Returns whether an attempt's exception is gRPC reporting this deadline (not a server's own
    /// <see cref="StatusCode.DeadlineExceeded"/> status before it), and if so marks the deadline passed, should gRPC's
    /// timer have fired before this one.
    /// </summary>
    public bool Reports(RpcException exception)
    {
        if (exception.StatusCode != StatusCode.DeadlineExceeded || (!HasPassed && !HasPassedAt(_deadline)))
        {
            return false;
        }

        _source.Cancel();
        return true;
    }

    /// <summary>Returns whether a call's deadline has passed by the system clock gRPC times it with; never for none.</summary>
    public static bool HasPassedAt(DateTime? deadline) => deadline is { } at && at != DateTime.MaxValue && IsUtc(at) && DateTime.UtcNow >= at;

    // gRPC takes a deadline in UTC, or DateTime.MinValue (already passed, whatever its kind); it refuses any other.
    private static bool IsUtc(DateTime deadline) => deadline.Kind == DateTimeKind.Utc || deadline == DateTime.MinValue;

    public void Dispose() => _source.Dispose();
}
