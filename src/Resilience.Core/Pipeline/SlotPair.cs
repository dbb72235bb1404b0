using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>Inline slots for pipelines of one or two strategies: a smaller frame to zero on every call than <see cref="SlotBuffer"/>.</summary>
[InlineArray(Length)]
internal struct SlotPair
{
    public const int Length = 2;

    private StrategySlot _first;
}
