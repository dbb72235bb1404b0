using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace Resilience.Http.Tests.Middleware;

/// <summary>
/// The middleware's rejection callback as an application writes it: <c>Retry-After</c> in whole seconds (rounded up, as
/// HTTP has it) from the lease's <see cref="MetadataName.RetryAfter"/>, and the exact value in ticks beside it for tests.
/// </summary>
internal static class RejectionHeaders
{
    public const string RetryAfterTicks = "Retry-After-Ticks";

    public const string Reason = "Rejection-Reason";

    public static ValueTask Write(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var headers = rejected.HttpContext.Response.Headers;
        if (rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter))
        {
            headers.RetryAfter = ((long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            headers[RetryAfterTicks] = retryAfter.Ticks.ToString(CultureInfo.InvariantCulture);
        }

        if (rejected.Lease.TryGetMetadata(MetadataName.ReasonPhrase, out var reason))
        {
            headers[Reason] = reason;
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The exact retry-after a rejected response carries, if any.</summary>
    public static TimeSpan? RetryAfterOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(RetryAfterTicks, out var values)
            ? TimeSpan.FromTicks(long.Parse(values.Single(), CultureInfo.InvariantCulture))
            : null;

    /// <summary>The reason phrase a rejected response carries, if any.</summary>
    public static string? ReasonOf(HttpResponseMessage response) =>
        response.Headers.TryGetValues(Reason, out var values) ? values.Single() : null;
}
