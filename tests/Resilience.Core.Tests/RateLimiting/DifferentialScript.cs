using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Plays one random script on a reference limiter (the BCL's) and on ours, step by step, and fails at the first step
/// after which a caller could tell them apart. Steps are whole integers, every bit used: the operation (attempt, wait
/// with or without a token, cancel a waiter, dispose a lease once or twice, read statistics, dispose the limiter near the
/// end), the permits (from -1 to the limit + 1, so that both argument errors occur), which waiter or lease, which key.
/// </summary>
internal sealed class DifferentialScript(ScriptedLimiter reference, ScriptedLimiter ours, int permitLimit, string setup)
{
    private readonly StringBuilder _trace = new(setup + "\n");

    /// <summary>Gets or sets which cancellations would show a documented difference (the waiter's index), to leave out.</summary>
    public Func<ScriptedLimiter, int, bool> CancelIsDocumentedDifference { get; init; } = static (_, _) => false;

    /// <summary>Gets or sets which lease disposals would show a documented difference (the lease's index), to leave out.</summary>
    public Func<ScriptedLimiter, int, bool> ReleaseIsDocumentedDifference { get; init; } = static (_, _) => false;

    /// <summary>Gets or sets which attempts (the permits asked for) would show a documented difference, to leave out.</summary>
    public Func<ScriptedLimiter, int, bool> AttemptIsDocumentedDifference { get; init; } = static (_, _) => false;

    /// <summary>Gets or sets which waiting acquisitions (the permits asked for) would show a documented difference, to leave out.</summary>
    public Func<ScriptedLimiter, int, bool> AcquireIsDocumentedDifference { get; init; } = static (_, _) => false;

    /// <summary>Steps whose every bit counts (FsCheck's own integers are small).</summary>
    public static Gen<int[]> Steps => Gen.ArrayOf(Gen.Choose(0, int.MaxValue));

    public Property Play(int[] steps)
    {
        try
        {
            return PlayAll(steps);
        }
        finally
        {
            reference.Dispose();
            ours.Dispose();
        }
    }

    private Property PlayAll(int[] steps)
    {
        for (var i = 0; i < steps.Length; i++)
        {
            var step = steps[i];
            var permits = (((step >>> 8) & 0xFF) % (permitLimit + 3)) - 1;
            var pick = (step >>> 16) & 0x3FFF;
            var twice = (step & (1 << 30)) != 0;
            var key = (int)(((uint)step * 0x9E3779B1u) >> 28) % reference.Keys;
            var on = reference.Keys > 1 ? $"key {key}, " : string.Empty;
            string action;
            switch ((step & 0xFF) % 11)
            {
                case 0 or 1 or 2:
                    if (AttemptIsDocumentedDifference(reference, permits))
                    {
                        continue;
                    }

                    action = $"AttemptAcquire({on}{permits})";
                    Both(limiter => limiter.Attempt(key, permits));
                    break;
                case 3 or 4:
                    if (AcquireIsDocumentedDifference(reference, permits))
                    {
                        continue;
                    }

                    action = $"AcquireAsync({on}{permits})";
                    Both(limiter => limiter.Acquire(key, permits, token: null));
                    break;
                case 5 or 6:
                    if (!twice && AcquireIsDocumentedDifference(reference, permits))
                    {
                        continue;
                    }

                    action = $"AcquireAsync({on}{permits}, {(twice ? "cancelled" : "live")} token)";
                    Both(limiter => limiter.Acquire(key, permits, token: twice));
                    break;
                case 7:
                    if (reference.Cancellable(pick) is not { } waiter || CancelIsDocumentedDifference(reference, waiter))
                    {
                        continue;
                    }

                    action = $"cancel waiter #{waiter}";
                    Both(limiter => limiter.Cancel(waiter));
                    break;
                case 8 or 9:
                    if (reference.Held(pick) is not { } lease || ReleaseIsDocumentedDifference(reference, lease))
                    {
                        continue;
                    }

                    action = $"dispose lease #{lease}{(twice ? " twice" : string.Empty)}";
                    Both(limiter => limiter.Release(lease, twice));
                    break;
                default:
                    if (reference.IsDisposed || i < steps.Length - 4)
                    {
                        action = "GetStatistics";
                        Both(_ => string.Empty);
                        break;
                    }

                    action = twice ? "dispose limiter asynchronously" : "dispose limiter";
                    Both(limiter => limiter.DisposeLimiter(twice));
                    break;
            }

            _trace.Append(action).Append('\n');
            var (expected, actual) = (reference.Observe(), ours.Observe());
            if (expected != actual)
            {
                return false.Label($"{_trace}after step {i}:\n  bcl:  {expected}\n  ours: {actual}");
            }

            _trace.Append("  ").Append(expected).Append('\n');
        }

        return true.ToProperty();
    }

    private void Both(Func<ScriptedLimiter, string> step)
    {
        reference.Record(step(reference));
        ours.Record(step(ours));
    }
}
