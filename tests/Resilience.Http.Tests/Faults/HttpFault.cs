namespace Resilience.Http.Tests.Faults;

/// <summary>What the soak server does with one attempt of a request.</summary>
internal enum HttpFault
{
    /// <summary>200 with a body.</summary>
    Ok,

    /// <summary>404: the caller's mistake, a result (a success for a breaker), not retried.</summary>
    NotFound,

    /// <summary>503 with <c>Retry-After: 0</c>: retried at once.</summary>
    Unavailable,

    /// <summary>429 with <c>Retry-After: 0</c>: retried at once.</summary>
    TooManyRequests,

    /// <summary>429 with <c>Retry-After: 3600</c>, past the retry's cap: the retries end and the caller gets the 429.</summary>
    TooManyRequestsForAnHour,

    /// <summary>500: retried.</summary>
    ServerError,

    /// <summary>The server aborts the request without a response: a transport failure, retried.</summary>
    Reset,

    /// <summary>The server answers only once the client gives up: the pipeline's timeout ends the attempt, retried.</summary>
    Slow,

    /// <summary>The server holds the request and cancels the caller's token: the caller's cancellation, never retried.</summary>
    Hang,
}
