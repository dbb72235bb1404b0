using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>Per-call slots stored inline, so a call through a pipeline of up to <see cref="Length"/> strategies allocates nothing.</summary>
[InlineArray(Length)]
internal struct SlotBuffer
{
    public const int Length = 6;

    private StrategySlot _first;
}
