using System.Runtime.ExceptionServices;
using Grpc.Core;

namespace Resilience.Grpc;

/// <summary>
/// What counts as a failure of a gRPC call, for the predicates of a pipeline's strategies: pass
/// <see cref="IsTransientFailure"/> as their <c>shouldHandle</c>.
/// </summary>
public static class GrpcOutcomes
{
    /// <summary>Trailer a server sets to tell clients how long to wait before retrying (gRFC A6's server pushback), in milliseconds.</summary>
    public const string RetryPushbackTrailer = "grpc-retry-pushback-ms";

    /// <summary>
    /// Returns whether an exception is a failure of the dependency: an <see cref="RpcException"/> with a transient status
    /// (see <see cref="IsTransientStatus"/>), or any other exception (the transport failed), except an
    /// <see cref="InvalidOperationException"/> or a <see cref="NotSupportedException"/>: gRPC throws those for a call it
    /// refuses to start (a deadline that is not UTC, a disposed channel), mistakes of the caller that no retry mends and
    /// no breaker should count against the server. The caller's own cancellation never reaches a predicate.
    /// </summary>
    /// <param name="exception">The exception of one attempt.</param>
    /// <returns>Whether it is a failure.</returns>
    public static bool IsTransientFailure(Exception exception) => exception switch
    {
        RpcException rpc => IsTransientStatus(rpc.StatusCode),

        // gRPC reports every failure of the transport and the server as a status: what it throws otherwise is its
        // refusal of the call as the caller made it.
        InvalidOperationException or NotSupportedException => false,
        _ => true,
    };

    /// <summary>
    /// Reads a server's pushback (the <see cref="RetryPushbackTrailer"/> trailer of an <see cref="RpcException"/>), for a
    /// builder's <c>RetryAfterHint</c>: a retry then waits as long as the server asked, up to
    /// <see cref="RetryOptions.MaxRetryAfter"/> (a longer wait ends the retries).
    /// </summary>
    /// <param name="exception">A failed attempt's exception.</param>
    /// <returns>
    /// The wait the server asked for (capped at a year, far beyond any retry's cap), or <see langword="null"/> when it
    /// sent no trailer. A negative or invalid value is the server asking not to be retried (gRFC A6): it reads as the
    /// year, so the retries end.
    /// </returns>
    public static TimeSpan? RetryPushbackOf(Exception exception)
    {
        if (exception is not RpcException { Trailers: { } trailers } || trailers.GetValue(RetryPushbackTrailer) is not { } value)
        {
            return null;
        }

        return long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var milliseconds)
            ? TimeSpan.FromMilliseconds(Math.Min(milliseconds, MaxPushbackMilliseconds))
            : TimeSpan.FromMilliseconds(MaxPushbackMilliseconds);
    }

    // A year: a server's number is not trusted to fit a TimeSpan.
    private const long MaxPushbackMilliseconds = 365L * 24 * 60 * 60 * 1000;

    /// <summary>
    /// Returns whether a status says the server failed or is overloaded: <see cref="StatusCode.Unavailable"/>,
    /// <see cref="StatusCode.DeadlineExceeded"/>, <see cref="StatusCode.ResourceExhausted"/>, <see cref="StatusCode.Aborted"/>,
    /// <see cref="StatusCode.Internal"/> and <see cref="StatusCode.Unknown"/> (an unhandled server exception). Statuses
    /// that describe the request (<see cref="StatusCode.InvalidArgument"/>, <see cref="StatusCode.NotFound"/>,
    /// <see cref="StatusCode.PermissionDenied"/>, …) are not the dependency's failures.
    /// </summary>
    /// <param name="statusCode">The status code.</param>
    /// <returns>Whether it is transient.</returns>
    public static bool IsTransientStatus(StatusCode statusCode) => statusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded
        or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Internal or StatusCode.Unknown;

    /// <summary>
    /// Returns the status a refusal by a pipeline maps to: an open or isolated circuit and other refusals are
    /// <see cref="StatusCode.Unavailable"/>, a limiter's refusal is <see cref="StatusCode.ResourceExhausted"/>, a timeout is
    /// <see cref="StatusCode.DeadlineExceeded"/>.
    /// </summary>
    /// <param name="exception">The pipeline's exception.</param>
    /// <returns>The status code, or <see langword="null"/> when <paramref name="exception"/> is not the pipeline's own.</returns>
    public static StatusCode? StatusOf(ResilienceException exception) => exception switch
    {
        RateLimiterRejectedException => StatusCode.ResourceExhausted,
        TimeoutRejectedException => StatusCode.DeadlineExceeded,
        ResilienceRejectedException => StatusCode.Unavailable,
        _ => null,
    };

    /// <summary>Whether an attempt's exception is gRPC's report of the attempt's own token being cancelled.</summary>
    internal static bool IsCancellation(RpcException exception, CancellationToken cancellationToken) =>
        exception.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested;

    /// <summary>gRPC reports a cancelled token as a status; the pipeline must see a cancellation to tell it from a failure.</summary>
    internal static OperationCanceledException ToCancellation(RpcException exception, CancellationToken cancellationToken) =>
        new(exception.Message, exception, cancellationToken);

    /// <summary>
    /// Returns an outcome's result, or throws its failure as a gRPC caller expects it: a cancellation as gRPC reported it,
    /// a refusal as a status (see <see cref="ToRpcException"/>), any other exception as it was raised.
    /// </summary>
    internal static T ResultOrThrow<T>(in Outcome<T> outcome)
    {
        if (outcome.IsSuccess)
        {
            return outcome.Result!;
        }

        var exception = outcome.Exception!;
        ExceptionDispatchInfo.Throw(StatusInside(exception, StatusCode.Cancelled) ?? ToRpcException(exception));
        return default!;
    }

    /// <summary>
    /// The status gRPC gives a call its caller ended, for a failure that is the pipeline seeing its caller's token
    /// cancelled: <see cref="StatusCode.DeadlineExceeded"/> once the call's deadline has passed (as an attempt reported it,
    /// if one did), <see cref="StatusCode.Cancelled"/> for a cancellation no attempt reported (during a retry's delay, or
    /// before the first attempt): a gRPC caller expects a status, not a bare cancellation. <see langword="null"/> when the
    /// failure stands as <see cref="ResultOrThrow"/> throws it.
    /// </summary>
    internal static RpcException? EndedByCaller(Exception exception, CancellationToken pipelineToken, CallDeadline? deadline, CancellationToken callerToken)
    {
        if (exception is not OperationCanceledException || !pipelineToken.IsCancellationRequested)
        {
            return null;
        }

        if (deadline is { HasPassed: true } && !callerToken.IsCancellationRequested)
        {
            return StatusInside(exception, StatusCode.DeadlineExceeded)
                ?? new RpcException(new Status(StatusCode.DeadlineExceeded, "Deadline Exceeded", exception));
        }

        return StatusInside(exception, StatusCode.Cancelled) is null
            ? new RpcException(new Status(StatusCode.Cancelled, "Call canceled by the client.", exception))
            : null;
    }

    /// <summary>
    /// The status gRPC reported for an attempt that ended with the caller's token, inside the cancellation the attempt
    /// raised (see <see cref="ToCancellation"/>) and any a timeout wrapped it in to carry the caller's token.
    /// </summary>
    private static RpcException? StatusInside(Exception exception, StatusCode statusCode)
    {
        for (var current = exception; current is OperationCanceledException; current = current.InnerException)
        {
            if (current.InnerException is RpcException rpc && rpc.StatusCode == statusCode)
            {
                return rpc;
            }
        }

        return null;
    }

    /// <summary>
    /// Turns a pipeline's own exception (a rejection, a timeout) into the <see cref="RpcException"/> a gRPC caller
    /// expects, with the original as the status's debug exception and its retry-after as <see cref="RetryPushbackTrailer"/>.
    /// </summary>
    internal static Exception ToRpcException(Exception exception)
    {
        if (exception is not ResilienceException resilience || StatusOf(resilience) is not { } status)
        {
            return exception;
        }

        var trailers = new Metadata();
        if (resilience.RetryAfter is { } retryAfter)
        {
            trailers.Add(RetryPushbackTrailer, ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return new RpcException(new Status(status, resilience.Message, resilience), trailers, resilience.Message);
    }

    /// <summary>
    /// A fresh exception of <paramref name="exception"/>'s status, trailers and message: thrown to each reader of a status
    /// the call keeps, so that each has a stack trace of its own (one instance thrown again and again gathers them all).
    /// </summary>
    internal static RpcException Copy(RpcException exception) => new(exception.Status, exception.Trailers, exception.Message);
}
