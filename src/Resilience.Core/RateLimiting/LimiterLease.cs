using System.Threading.RateLimiting;

namespace Resilience;

/// <summary>A lease that holds nothing to give back: shared for every success, and for failures without metadata.</summary>
internal sealed class LimiterLease : RateLimitLease
{
    public static readonly LimiterLease Acquired = new(true, null);
    public static readonly LimiterLease Failed = new(false, null);

    private readonly TimeSpan? _retryAfter;

    private LimiterLease(bool isAcquired, TimeSpan? retryAfter)
    {
        IsAcquired = isAcquired;
        _retryAfter = retryAfter;
    }

    public override bool IsAcquired { get; }

    public override IEnumerable<string> MetadataNames => _retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

    public static LimiterLease FailedWithRetryAfter(TimeSpan retryAfter) => new(false, retryAfter);

    public override bool TryGetMetadata(string metadataName, out object? metadata)
    {
        if (_retryAfter is { } retryAfter && metadataName == MetadataName.RetryAfter.Name)
        {
            metadata = retryAfter;
            return true;
        }

        metadata = null;
        return false;
    }
}
