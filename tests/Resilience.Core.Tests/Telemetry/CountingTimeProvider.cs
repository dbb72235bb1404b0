using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Telemetry;

/// <summary>A fake clock that counts how often its timestamp is read.</summary>
internal sealed class CountingTimeProvider : FakeTimeProvider
{
    private int _reads;

    public int TimestampReads => Volatile.Read(ref _reads);

    public override long GetTimestamp()
    {
        Interlocked.Increment(ref _reads);
        return base.GetTimestamp();
    }
}
