using System.Numerics;
using System.Runtime.CompilerServices;

namespace Resilience;

/// <summary>
/// A small number that at most one live thread holds at a time (0 to <see cref="Count"/> − 1): a counter cell indexed by
/// it has one writer, who adds with a plain store instead of an atomic instruction. A thread takes the lowest free
/// number the first time it asks and gives it back when it ends (a finalizable object only that thread refers to, as
/// <see cref="ThreadLocal{T}"/> recycles its ids), so a pool whose threads come and go keeps reusing the low numbers.
/// When all are taken, a thread gets <see cref="None"/> and its callers fall back to shared, atomic cells.
/// </summary>
internal static class ThreadSlot
{
    /// <summary>How many numbers there are.</summary>
    public const int Count = 64;

    /// <summary>The answer when every number is taken: no cell is the caller's own.</summary>
    public const int None = int.MaxValue;

    // Bit n set: number n is held.
    private static ulong s_held;

    // The number plus one, so that a thread's zero means "not asked yet".
    [ThreadStatic]
    private static int t_slotPlusOne;

    [ThreadStatic]
    private static Release? t_release;

    /// <summary>Gets the calling thread's number, or <see cref="None"/>.</summary>
    public static int Current
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var slot = t_slotPlusOne;
            return slot != 0 ? unchecked(slot - 1) : Take();
        }
    }

    /// <summary>Gets the numbers held now (for tests).</summary>
    internal static ulong Held => Volatile.Read(ref s_held);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Take()
    {
        while (true)
        {
            var held = Volatile.Read(ref s_held);
            if (held == ulong.MaxValue)
            {
                // Remembered: a thread that found none asks no more (a later free number goes to a thread that asks first).
                t_slotPlusOne = unchecked(None + 1);
                return None;
            }

            var slot = BitOperations.TrailingZeroCount(~held);
            if (Interlocked.CompareExchange(ref s_held, held | (1UL << slot), held) == held)
            {
                t_release = new Release(slot);
                t_slotPlusOne = slot + 1;
                return slot;
            }
        }
    }

    /// <summary>Gives a dead thread's number back: only its thread refers to it, so it is finalized once that thread ended.</summary>
    private sealed class Release(int slot)
    {
        ~Release() => Interlocked.And(ref s_held, ~(1UL << slot));
    }
}
