using System.Numerics;

namespace Resilience;

/// <summary>
/// A counter striped across cache lines by processor, as Java's LongAdder is: many threads can add without bouncing
/// one line; reading sums the stripes (exact once writers are done, a moment's view while they run).
/// </summary>
internal sealed class StripedCounter
{
    private const int Stride = 8;
    private readonly long[] _cells;
    private readonly int _mask;

    public StripedCounter()
    {
        var stripes = (int)Math.Min(64, BitOperations.RoundUpToPowerOf2((uint)Environment.ProcessorCount));
        _mask = stripes - 1;
        _cells = new long[(stripes + 1) * Stride];
    }

    public void Increment() => Interlocked.Increment(ref _cells[Stride + ((Thread.GetCurrentProcessorId() & _mask) * Stride)]);

    public long Sum()
    {
        long total = 0;
        for (var stripe = 0; stripe <= _mask; stripe++)
        {
            total += Volatile.Read(ref _cells[Stride + (stripe * Stride)]);
        }

        return total;
    }
}
