using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>A lease that holds nothing to give back: shared for every success, and for failures without a retry-after.</summary>
internal sealed class LimiterLease : RateLimitLease
{
    public static readonly LimiterLease Acquired = new(true, null, null);
    public static readonly LimiterLease Failed = new(false, null, null);

    /// <summary>A request the queue cannot take: the BCL's <see cref="ConcurrencyLimiter"/> gives this reason (and only this one).</summary>
    public static readonly LimiterLease QueueLimitReached = new(false, null, "Queue limit reached");

    private static readonly string[] RetryAfterName = [MetadataName.RetryAfter.Name];
    private static readonly string[] ReasonPhraseName = [MetadataName.ReasonPhrase.Name];

    private readonly TimeSpan? _retryAfter;
    private readonly string? _reason;

    private LimiterLease(bool isAcquired, TimeSpan? retryAfter, string? reason)
    {
        IsAcquired = isAcquired;
        _retryAfter = retryAfter;
        _reason = reason;
    }

    public override bool IsAcquired { get; }

    /// <summary>Gets the names of the metadata the lease has: at most one, a retry-after or a reason.</summary>
    public override IEnumerable<string> MetadataNames => _retryAfter is not null ? RetryAfterName : _reason is not null ? ReasonPhraseName : [];

    public static LimiterLease FailedWithRetryAfter(TimeSpan retryAfter) => new(false, retryAfter, null);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        if (_reason is not null && metadataName == MetadataName.ReasonPhrase.Name)
        {
            metadata = _reason;
            return true;
        }

        metadata = null;
        return false;
    }
}
