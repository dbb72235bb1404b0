using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>Inline slots for pipelines of three or four strategies: a smaller frame to zero on every call than <see cref="SlotBuffer"/>.</summary>
[InlineArray(Length)]
internal struct SlotQuad
{
    public const int Length = 4;

    private StrategySlot _first;
}
