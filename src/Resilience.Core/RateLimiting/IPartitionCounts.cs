namespace Resilience;

/// <summary>
/// What telemetry and the health view read of a partitioned limiter that counts its partitions, whatever its key type:
/// counts it keeps anyway, read only when a listener collects or a report is made, never on an acquisition.
/// </summary>
internal interface IPartitionCounts
{
    /// <summary>Gets how many partitions are live.</summary>
    int Count { get; }

    /// <summary>Gets the cap on live partitions.</summary>
    int MaxPartitions { get; }

    /// <summary>Gets how many partitions were created.</summary>
    long PartitionsCreated { get; }

    /// <summary>Gets how many partitions were evicted.</summary>
    long PartitionsEvicted { get; }

    /// <summary>Gets whether the limiter was disposed: its counts then describe partitions that no longer exist.</summary>
    bool IsDisposed { get; }
}
