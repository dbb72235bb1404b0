using System.Text;
using System.Threading.RateLimiting;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.RateLimiting;

/// <summary>
/// Random single-threaded scripts of acquisitions, cancellations, lease disposals and limiter disposal, run against the
/// BCL's <see cref="ConcurrencyLimiter"/> and against <see cref="InFlightLimiter"/> with the same options. After every step
/// both must agree on everything a caller can see: each call's lease or exception, which waiters completed and how, the
/// leases' metadata and the statistics.
/// </summary>
public class InFlightLimiterDifferentialPropertyTests
{
    private const string Seed = "(3141592653,2718281829)";

    /// <summary>A permit limit, a queue limit and steps whose every bit counts (FsCheck's own integers are small).</summary>
    private static Arbitrary<(int PermitLimit, int QueueLimit, int[] Steps)> Scripts =>
        (from permitLimit in Gen.Choose(1, 4)
         from queueLimit in Gen.Choose(0, 5)
         from steps in Gen.ArrayOf(Gen.Choose(0, int.MaxValue))
         select (permitLimit, queueLimit, steps)).ToArbitrary();

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Oldest_first_scripts_behave_as_the_bcl_limiter() =>
        Prop.ForAll(Scripts, script => LimiterScript.Run(QueueProcessingOrder.OldestFirst, script.PermitLimit, script.QueueLimit, script.Steps));

    [Property(MaxTest = 400, Replay = Seed)]
    public Property Newest_first_scripts_behave_as_the_bcl_limiter() =>
        Prop.ForAll(Scripts, script => LimiterScript.Run(QueueProcessingOrder.NewestFirst, script.PermitLimit, script.QueueLimit, script.Steps));

    /// <summary>One script run on both limiters, step by step, with what each saw.</summary>
    private sealed class LimiterScript
    {
        private readonly Side _bcl;
        private readonly Side _ours;
        private readonly QueueProcessingOrder _order;
        private readonly StringBuilder _trace = new();

        private LimiterScript(int permitLimit, int queueLimit, QueueProcessingOrder order)
        {
            _order = order;
            _bcl = new Side(new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }));
            _ours = new Side(new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = permitLimit, QueueLimit = queueLimit, QueueProcessingOrder = order }));
            PermitLimit = permitLimit;
            _trace.Append($"limit {permitLimit}, queue {queueLimit}, {order}\n");
        }

        private int PermitLimit { get; }

        public static Property Run(QueueProcessingOrder order, int permitLimit, int queueLimit, int[] script)
        {
            var run = new LimiterScript(permitLimit, queueLimit, order);
            try
            {
                return run.Play(script ?? []);
            }
            finally
            {
                run._bcl.Dispose();
                run._ours.Dispose();
            }
        }

        private Property Play(int[] script)
        {
            var disposed = false;
            for (var i = 0; i < script.Length; i++)
            {
                var step = script[i];
                var permits = (((step >>> 8) & 0xFF) % (PermitLimit + 3)) - 1;
                var pick = (step >>> 16) & 0x3FFF;
                var twice = (step & (1 << 30)) != 0;
                string action;
                switch ((step & 0xFF) % 11)
                {
                    case 0 or 1 or 2:
                        action = $"AttemptAcquire({permits})";
                        Both(side => side.Attempt(permits));
                        break;
                    case 3 or 4:
                        action = $"AcquireAsync({permits})";
                        Both(side => side.Acquire(permits, token: null));
                        break;
                    case 5 or 6:
                        action = $"AcquireAsync({permits}, {(twice ? "cancelled" : "live")} token)";
                        Both(side => side.Acquire(permits, token: twice));
                        break;
                    case 7:
                        if (_bcl.Cancellable(pick) is not { } waiter)
                        {
                            continue;
                        }

                        if (LeavingServesAnother(waiter))
                        {
                            // Documented difference: a waiter that leaves lets the next waiter take the permits it could
                            // not have, where the BCL's limiter leaves it waiting for the next release.
                            continue;
                        }

                        action = $"cancel waiter #{waiter}";
                        Both(side => side.Cancel(waiter));
                        break;
                    case 8 or 9:
                        if (_bcl.Held(pick) is not { } lease)
                        {
                            continue;
                        }

                        if (ReleaseServesZeroWithoutPermit(_bcl.HeldPermits(lease)))
                        {
                            // Documented difference: a zero-permit waiter waits until a permit is free; the BCL's
                            // limiter also serves one that a release reaches after earlier waiters took every permit.
                            continue;
                        }

                        action = $"dispose lease #{lease}{(twice ? " twice" : string.Empty)}";
                        Both(side => side.Release(lease, twice));
                        break;
                    default:
                        if (disposed || i < script.Length - 4)
                        {
                            action = "GetStatistics";
                            Both(_ => string.Empty);
                            break;
                        }

                        disposed = true;
                        action = twice ? "dispose limiter asynchronously" : "dispose limiter";
                        Both(side => side.DisposeLimiter(twice));
                        break;
                }

                _trace.Append(action).Append('\n');
                var (bcl, ours) = (_bcl.Observe(), _ours.Observe());
                if (bcl != ours)
                {
                    return false.Label($"{_trace}after step {i}:\n  bcl:  {bcl}\n  ours: {ours}");
                }

                _trace.Append("  ").Append(bcl).Append('\n');
            }

            return true.ToProperty();
        }

        /// <summary>
        /// Whether cancelling <paramref name="waiter"/> leaves at the head of the queue a waiter that the free permits
        /// serve: ours serves it at once, the BCL's limiter at the next release.
        /// </summary>
        private bool LeavingServesAnother(int waiter)
        {
            var rest = _bcl.Waiting().Where(entry => entry.Index != waiter).ToList();
            if (rest.Count == 0 || _bcl.IsDisposed)
            {
                return false;
            }

            var head = _order == QueueProcessingOrder.OldestFirst ? rest[0] : rest[^1];
            var available = _bcl.Limiter.GetStatistics()!.CurrentAvailablePermits;
            return available >= Math.Max(head.Permits, 1);
        }

        /// <summary>
        /// Whether releasing <paramref name="permits"/> would, as the BCL's limiter serves its queue, serve a zero-permit
        /// waiter once the waiters served before it have taken every permit.
        /// </summary>
        private bool ReleaseServesZeroWithoutPermit(int permits)
        {
            var waiting = _bcl.Waiting().ToList();
            if (_bcl.IsDisposed)
            {
                // Disposal emptied the queue.
                return false;
            }

            if (_order == QueueProcessingOrder.NewestFirst)
            {
                waiting.Reverse();
            }

            var available = _bcl.Limiter.GetStatistics()!.CurrentAvailablePermits + permits;
            foreach (var (_, requested) in waiting)
            {
                if (available < requested)
                {
                    return false;
                }

                if (requested == 0 && available == 0)
                {
                    return true;
                }

                available -= requested;
            }

            return false;
        }

        private void Both(Func<Side, string> step)
        {
            _bcl.Record(step(_bcl));
            _ours.Record(step(_ours));
        }
    }

    /// <summary>One limiter and what the script did with it: leases held, waiters, their tokens.</summary>
    private sealed class Side(RateLimiter limiter) : IDisposable
    {
        private readonly List<RateLimitLease> _leases = [];
        private readonly List<int> _leasePermits = [];
        private readonly List<bool> _released = [];
        private readonly List<(Task<RateLimitLease> Task, int Permits, CancellationTokenSource? Token, bool Harvested)> _waiters = [];
        private string _last = string.Empty;
        private bool _disposed;

        public RateLimiter Limiter { get; } = limiter;

        public bool IsDisposed => _disposed;

        public string Attempt(int permits) => Call(() =>
        {
            var lease = Limiter.AttemptAcquire(permits);
            return Describe(Keep(lease, permits));
        });

        /// <summary>Asks for permits with no token (<paramref name="token"/> null), a live one or one already cancelled.</summary>
        public string Acquire(int permits, bool? token) => Call(() =>
        {
            var source = token is null ? null : new CancellationTokenSource();
            if (token == true)
            {
                source!.Cancel();
            }

            Task<RateLimitLease> task;
            try
            {
                task = Limiter.AcquireAsync(permits, source?.Token ?? default).AsTask();
            }
            catch
            {
                source?.Dispose();
                throw;
            }

            _waiters.Add((task, permits, source, false));
            return $"waiter #{_waiters.Count - 1}";
        });

        public int? Cancellable(int pick)
        {
            // Served waiters too: cancelling a token after its waiter was served must change nothing.
            var open = Enumerable.Range(0, _waiters.Count).Where(i => _waiters[i].Token is { IsCancellationRequested: false }).ToList();
            return open.Count == 0 ? null : open[pick % open.Count];
        }

        public IEnumerable<(int Index, int Permits)> Waiting() =>
            Enumerable.Range(0, _waiters.Count).Where(i => !_waiters[i].Task.IsCompleted).Select(i => (i, _waiters[i].Permits));

        public string Cancel(int waiter) => Call(() =>
        {
            _waiters[waiter].Token!.Cancel();
            return string.Empty;
        });

        public int? Held(int pick)
        {
            var held = Enumerable.Range(0, _leases.Count).Where(i => _leases[i].IsAcquired && !_released[i]).ToList();
            return held.Count == 0 ? null : held[pick % held.Count];
        }

        public int HeldPermits(int lease) => _leasePermits[lease];

        public string Release(int lease, bool twice) => Call(() =>
        {
            _released[lease] = true;
            _leases[lease].Dispose();
            if (twice)
            {
                _leases[lease].Dispose();
            }

            return string.Empty;
        });

        public string DisposeLimiter(bool asynchronously) => Call(() =>
        {
            _disposed = true;
            if (asynchronously)
            {
                // Both limiters dispose synchronously underneath: the task is complete when it returns.
                var disposal = Limiter.DisposeAsync();
                return disposal.IsCompletedSuccessfully ? string.Empty : "disposal pending";
            }

            Limiter.Dispose();
            return string.Empty;
        });

        public void Record(string outcome) => _last = outcome;

        /// <summary>What a caller sees now: the last call's outcome, every waiter's state, the statistics.</summary>
        public string Observe()
        {
            var text = new StringBuilder(_last);
            for (var i = 0; i < _waiters.Count; i++)
            {
                var (task, permits, token, harvested) = _waiters[i];
                text.Append($" | #{i}({permits}): ");
                if (!task.IsCompleted)
                {
                    text.Append("waiting");
                }
                else if (task.IsCanceled)
                {
                    var caught = task.Exception is null ? GetCanceled(task) : null;
                    text.Append($"cancelled{(caught?.CancellationToken == token?.Token ? string.Empty : " (another token)")}");
                }
                else if (task.IsFaulted)
                {
                    text.Append($"faulted {task.Exception!.InnerException!.GetType().Name}");
                }
                else
                {
                    if (!harvested)
                    {
                        _waiters[i] = (task, permits, token, true);
#pragma warning disable xUnit1031 // Completed: read, not waited for.
                        Keep(task.Result, permits);
#pragma warning restore xUnit1031
                    }

#pragma warning disable xUnit1031 // Completed: read, not waited for.
                    text.Append(Describe(task.Result));
#pragma warning restore xUnit1031
                }
            }

            text.Append(" | ").Append(Statistics());
            return text.ToString();
        }

        public void Dispose()
        {
            Limiter.Dispose();
            foreach (var waiter in _waiters)
            {
                waiter.Token?.Dispose();
            }
        }

        private static OperationCanceledException? GetCanceled(Task task)
        {
            try
            {
#pragma warning disable xUnit1031 // Completed: read, not waited for.
                task.GetAwaiter().GetResult();
#pragma warning restore xUnit1031
                return null;
            }
            catch (OperationCanceledException cancelled)
            {
                return cancelled;
            }
        }

        private static string Describe(RateLimitLease lease)
        {
            var metadata = string.Join(",", lease.GetAllMetadata().Select(pair => $"{pair.Key}={pair.Value}"));
            return $"{(lease.IsAcquired ? "acquired" : "refused")}[{metadata}]";
        }

        private static string Call(Func<string> call)
        {
            try
            {
                return call();
            }
            catch (Exception thrown)
            {
                return $"threw {thrown.GetType().Name}{(thrown is ArgumentException argument ? $"({argument.ParamName})" : string.Empty)}";
            }
        }

        private RateLimitLease Keep(RateLimitLease lease, int permits)
        {
            _leases.Add(lease);
            _leasePermits.Add(permits);
            _released.Add(false);
            return lease;
        }

        private string Statistics()
        {
            if (_disposed)
            {
                // Documented difference: ours still answers after disposal (its count includes the waiters disposal
                // failed), the BCL's limiter throws ObjectDisposedException.
                return "disposed";
            }

            try
            {
                var statistics = Limiter.GetStatistics()!;
                return $"available {statistics.CurrentAvailablePermits}, queued {statistics.CurrentQueuedCount}, succeeded {statistics.TotalSuccessfulLeases}, failed {statistics.TotalFailedLeases}";
            }
            catch (Exception thrown)
            {
                return $"statistics threw {thrown.GetType().Name}";
            }
        }
    }
}
