using System.Globalization;
using System.Net;
using System.Net.Http.Headers;

namespace Resilience.Http;

/// <summary>
/// What counts as a failure of an HTTP call, for the predicates of a <see cref="ResiliencePipeline{T}"/> of
/// <see cref="HttpResponseMessage"/>: pass <see cref="IsTransientFailure"/> as the <c>shouldHandle</c> of its strategies.
/// </summary>
public static class HttpOutcomes
{
    /// <summary>
    /// Returns whether an outcome is a failure a resilience strategy should handle: any exception (a refused or reset
    /// connection, a timeout; the caller's own cancellation never reaches a predicate), or a response whose status is
    /// transient (see <see cref="IsTransientStatus"/>). An <see cref="HttpRequestException"/> that carries a status (an
    /// inner handler's <c>EnsureSuccessStatusCode</c>) is judged by that status, as the response would be. A request
    /// whose content could not be sent again by a repeated attempt, and a <see cref="NotSupportedException"/> (a
    /// synchronous send through a handler that cannot send synchronously), are mistakes of the caller, not failures.
    /// </summary>
    /// <param name="outcome">The outcome of one attempt.</param>
    /// <returns>Whether it is a failure.</returns>
    public static bool IsTransientFailure(Outcome<HttpResponseMessage> outcome)
    {
        if (outcome.IsSuccess)
        {
            return outcome.Result is { } response && IsTransientStatus(response.StatusCode);
        }

        // A rejection's exception is made on each read: a rejection is a failure without it.
        return outcome.IsRejected || outcome.Exception switch
        {
            HttpRequestException { StatusCode: { } status } => IsTransientStatus(status),
            ContentNotRepeatableException => false,

            // The handlers cannot do it at all (a synchronous Send through a handler that has only SendAsync): a
            // mistake of the set-up that no retry mends and no breaker should count against the server.
            NotSupportedException => false,
            _ => true,
        };
    }

    /// <summary>
    /// Reads the <c>Retry-After</c> header of a 503 or 429 response (seconds, more than 68 years read as 68 years; or a date
    /// compared with the response's own <c>Date</c> header, or with the system clock when it has none; other statuses give
    /// no hint, as the header asks nothing of their retries), for a typed
    /// builder's <c>RetryAfterHint</c>: a retry then waits as long as the server asked, up to
    /// <see cref="RetryOptions.MaxRetryAfter"/> (a longer wait ends the retries). A pipeline on another clock reads
    /// dates with <see cref="RetryAfterOf(Outcome{HttpResponseMessage}, TimeProvider)"/>.
    /// </summary>
    /// <param name="outcome">A failed attempt's outcome.</param>
    /// <returns>The wait the server asked for, or <see langword="null"/> when it asked for none.</returns>
    public static TimeSpan? RetryAfterOf(Outcome<HttpResponseMessage> outcome) => RetryAfterOf(outcome, TimeProvider.System);

    /// <summary>
    /// Reads the <c>Retry-After</c> header of a response as <see cref="RetryAfterOf(Outcome{HttpResponseMessage})"/> does,
    /// comparing a date with the response's <c>Date</c> header (the server's clock on both sides, so a skew between the
    /// client's clock and the server's changes nothing) or, when the response has none, with
    /// <paramref name="timeProvider"/>: give it the pipeline's clock, so that the wait and the retry's delay are measured
    /// on the same one (<c>RetryAfterHint = outcome =&gt; HttpOutcomes.RetryAfterOf(outcome, timeProvider)</c>).
    /// </summary>
    /// <param name="outcome">A failed attempt's outcome.</param>
    /// <param name="timeProvider">
    /// The clock a date is compared with when the response has no <c>Date</c> header; a date already past means at once.
    /// </param>
    /// <returns>The wait the server asked for, or <see langword="null"/> when it asked for none.</returns>
    public static TimeSpan? RetryAfterOf(Outcome<HttpResponseMessage> outcome, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);

        // The header means "come back later" on a 503 and a 429 only (RFC 9110, RFC 6585); a server that sends it with
        // every error does not ask a 500's retry to wait, nor to give up.
        if (outcome.Result is not { StatusCode: HttpStatusCode.ServiceUnavailable or HttpStatusCode.TooManyRequests } response)
        {
            return null;
        }

        if (response.Headers.RetryAfter is not { } header)
        {
            return SecondsBeyondTheParser(response.Headers);
        }

        if (header.Delta is { } delta)
        {
            return delta >= TimeSpan.Zero ? delta : null;
        }

        if (header.Date is not { } date)
        {
            return null;
        }

        // The response's own Date is the server's clock at the time it answered: both dates on one clock, so a client
        // whose clock is off the server's by hours still waits as long as the server asked.
        var now = outcome.Result.Headers.Date ?? timeProvider.GetUtcNow();
        return TimeSpan.FromTicks(Math.Max(0, (date - now).Ticks));
    }

    /// <summary>
    /// A <c>Retry-After</c> of more seconds than the header parser holds (an <see cref="int"/>: 68 years), which it refuses,
    /// although any number of seconds is valid: read as the parser's longest, far past any retry's cap, so the retries end
    /// rather than go at once. Anything else the parser refused asks for nothing.
    /// </summary>
    private static TimeSpan? SecondsBeyondTheParser(HttpResponseHeaders headers)
    {
        if (!headers.NonValidated.TryGetValues("Retry-After", out var values) || values.Count != 1)
        {
            return null;
        }

        var value = values.ToString().AsSpan().Trim(" \t");
        if (value.IsEmpty || value.ContainsAnyExceptInRange('0', '9'))
        {
            return null;
        }

        value = value.TrimStart('0');
        return TimeSpan.FromSeconds(value.Length <= 10 ? Math.Min(long.Parse(value, CultureInfo.InvariantCulture), int.MaxValue) : int.MaxValue);
    }

    /// <summary>
    /// Returns whether a status code says the server failed or is overloaded and a later attempt may succeed: every
    /// 5xx, 408 (request timeout) and 429 (too many requests). Other 4xx statuses are the caller's mistakes, not the
    /// dependency's failures.
    /// </summary>
    /// <param name="statusCode">The status code.</param>
    /// <returns>Whether it is transient.</returns>
    public static bool IsTransientStatus(HttpStatusCode statusCode) =>
        (int)statusCode >= 500 || statusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;
}
