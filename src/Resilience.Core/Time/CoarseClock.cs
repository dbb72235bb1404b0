using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Resilience.Time;

/// <summary>
/// The operating system's coarse monotonic clock in whole milliseconds, as <see cref="Environment.TickCount64"/> reads
/// it, at a lower cost on Linux.
/// </summary>
/// <remarks>
/// On Linux, <see cref="Environment.TickCount64"/> calls into the runtime's native library, which calls the C library,
/// which calls the kernel's vDSO for <c>CLOCK_MONOTONIC_COARSE</c>: 5.7 ns a reading on the benchmark host. Calling the
/// vDSO's <c>clock_gettime</c> directly (found once, by name, in the vDSO the C library has loaded) costs 3.3 ns there,
/// and every hook that keeps a window or refills tokens reads this clock. The value is the same: the same clock, in
/// whole milliseconds, computed as the runtime computes it. Where the vDSO or its symbol cannot be found (another
/// operating system, a C library that does not name the vDSO, a 32-bit process), or its first reading disagrees with
/// <see cref="Environment.TickCount64"/>, the clock reads <see cref="Environment.TickCount64"/>.
/// </remarks>
internal static unsafe class CoarseClock
{
    private const int ClockMonotonicCoarse = 6;

    // A static readonly pointer is a constant to the optimizing JIT: the check below and the call are direct.
    private static readonly delegate* unmanaged[SuppressGCTransition]<int, TimeSpec*, int> s_clockGettime = FindClockGettime();

    /// <summary>Gets whether readings call the vDSO directly (otherwise they read <see cref="Environment.TickCount64"/>).</summary>
    public static bool ReadsVdso => s_clockGettime != null;

    /// <summary>Gets the coarse monotonic clock in whole milliseconds: the value <see cref="Environment.TickCount64"/> reads.</summary>
    public static long Milliseconds
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => s_clockGettime != null ? ReadVdso() : Environment.TickCount64;
    }

    /// <summary>
    /// Reads <see cref="Milliseconds"/> in a call of its own: for the pipeline's hooks, which the engine may inline into
    /// its fast path, whose frame the runtime zeroes on every call (16 bytes more of it cost a breaker's asynchronous
    /// call the loop the JIT zeroes larger frames with).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static long ReadMilliseconds() => Milliseconds;

    // Inlined (a token bucket's acquisition 9.5 -> 8.5 ns against a call): the time structure the vDSO fills is never
    // zeroed first, so the caller's frame holds no block of vector stores it is read back from (such a read stalls).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    [SkipLocalsInit]
    private static long ReadVdso()
    {
        TimeSpec time;
        return s_clockGettime(ClockMonotonicCoarse, &time) == 0 ? time.Milliseconds : Environment.TickCount64;
    }

    private static delegate* unmanaged[SuppressGCTransition]<int, TimeSpec*, int> FindClockGettime()
    {
        // SuppressGCTransition suits a call that returns within nanoseconds and never blocks or calls back: the vDSO
        // answers the coarse clock from memory the kernel keeps current, without a system call.
        var symbol = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "__vdso_clock_gettime",
            Architecture.Arm64 => "__kernel_clock_gettime",
            _ => null,
        };
        if (!OperatingSystem.IsLinux() || symbol is null
            || !NativeLibrary.TryLoad("linux-vdso.so.1", out var vdso) || !NativeLibrary.TryGetExport(vdso, symbol, out var address))
        {
            return null;
        }

        var clockGettime = (delegate* unmanaged[SuppressGCTransition]<int, TimeSpec*, int>)address;
        TimeSpec time;
        var before = Environment.TickCount64;
        if (clockGettime(ClockMonotonicCoarse, &time) != 0)
        {
            return null;
        }

        // The same clock as TickCount64 reads, or not used at all: a reading between two of TickCount64's.
        return time.Milliseconds >= before && time.Milliseconds <= Environment.TickCount64 ? clockGettime : null;
    }

    /// <summary>The C library's <c>struct timespec</c> of a 64-bit Linux process.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;

        /// <summary>Gets the time in whole milliseconds, as the runtime converts it for <see cref="Environment.TickCount64"/>.</summary>
        public readonly long Milliseconds => (Seconds * 1000) + (Nanoseconds / 1_000_000);
    }
}
