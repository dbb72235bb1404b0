namespace Resilience.DependencyInjection;

/// <summary>
/// A partitioned limiter (one limit per tenant, host, user) in the health view: its partitions counted together, never
/// listed by key.
/// </summary>
public sealed class PartitionedRateLimiterHealth
{
    private PartitionedRateLimiterHealth(string name, int? partitions, int? maxPartitions, long? partitionsCreated, long? partitionsEvicted)
    {
        Name = name;
        Partitions = partitions;
        MaxPartitions = maxPartitions;
        PartitionsCreated = partitionsCreated;
        PartitionsEvicted = partitionsEvicted;
    }

    /// <summary>Gets the limiter's name.</summary>
    public string Name { get; }

    /// <summary>Gets how many partitions are live; <see langword="null"/> for a limiter that does not count them (one from <c>PartitionedRateLimiter.Create</c>).</summary>
    public int? Partitions { get; }

    /// <summary>Gets the cap on live partitions; <see langword="null"/> for a limiter that has none.</summary>
    public int? MaxPartitions { get; }

    /// <summary>Gets how many partitions it created since it was; <see langword="null"/> for a limiter that does not count them.</summary>
    public long? PartitionsCreated { get; }

    /// <summary>Gets how many partitions it evicted (idle, or past its cap) since it was created; <see langword="null"/> for a limiter that does not count them.</summary>
    public long? PartitionsEvicted { get; }

    /// <summary>Reads a partitioned limiter; none for one disposed while a pipeline still holds it, as the gauges skip it.</summary>
    internal static PartitionedRateLimiterHealth? Of(string name, IDisposable limiter) => limiter switch
    {
        IPartitionCounts { IsDisposed: true } => null,
        IPartitionCounts counts => new(name, counts.Count, counts.MaxPartitions, counts.PartitionsCreated, counts.PartitionsEvicted),
        _ => new(name, null, null, null, null),
    };
}
