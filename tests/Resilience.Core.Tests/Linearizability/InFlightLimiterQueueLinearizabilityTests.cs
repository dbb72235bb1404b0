using System.Threading.RateLimiting;

namespace Resilience.Tests.Linearizability;

/// <summary>
/// Real threads acquire at once and through the queue, cancel their waits, release, read statistics, raise or lower
/// the limit of one queued <see cref="InFlightLimiter"/> and, every few rounds, dispose of it, together; every round's
/// history must be linearizable against <see cref="InFlightLimiterModel"/> with its queue, each round starting from
/// the states the previous one may have ended in. A queued request is two operations: its call (granted, refused or
/// queued) and its task, from the call to the moment it was seen complete (admitted, failed or cancelled). Once the
/// threads are quiet no waiter may be left that the free permits could serve (a wait no release woke); the waits left
/// are then cancelled and the leases released, outside the history.
/// </summary>
public class InFlightLimiterQueueLinearizabilityTests
{
    private const int Threads = 3;
    private const int OperationsPerThread = 7;
    private const int LeasesPerThread = 3;
    private const int Rounds = 4000;
    private const int QueueLimit = 3;
    private const int DisposalEvery = 4;

    [Theory]
    [InlineData(QueueProcessingOrder.OldestFirst, 1)]
    [InlineData(QueueProcessingOrder.OldestFirst, 2)]
    [InlineData(QueueProcessingOrder.NewestFirst, 1)]
    [InlineData(QueueProcessingOrder.NewestFirst, 2)]
    public void Queued_acquisitions_cancellations_releases_statistics_and_limit_changes_are_linearizable(QueueProcessingOrder order, int seed)
    {
        InFlightLimiterOptions Options(int limit) => new() { PermitLimit = limit, QueueLimit = QueueLimit, QueueProcessingOrder = order };
        var limiter = new InFlightLimiter(Options(2));
        var newestFirst = order == QueueProcessingOrder.NewestFirst;
        var model = new InFlightLimiterModel(QueueLimit, newestFirst);
        var checker = new LinearizabilityChecker<InFlightState, InFlightCall, long>(model);
        var recorder = new HistoryRecorder<InFlightCall, long>(Threads);
        var scripts = Enumerable.Range(0, Threads).Select(thread => new Random((seed * 7919) + thread)).ToArray();
        IReadOnlySet<InFlightState> states = new HashSet<InFlightState> { new(0, 2, 0) };
        long granted = 0, failed = 0;
        var helds = Enumerable.Range(0, Threads).Select(_ => new List<(int Lease, int Permits, RateLimitLease Handle)>()).ToArray();
        var waitings = Enumerable.Range(0, Threads).Select(_ => new List<Wait>()).ToArray();

        // A task seen complete is the response of its waiter's operation, stamped when it was seen.
        void Poll(int thread)
        {
            foreach (var wait in waitings[thread].Where(wait => wait.Task.IsCompleted).ToList())
            {
                var returned = recorder.Stamp();
                waitings[thread].Remove(wait);
                wait.Cancellation.Dispose();
                var outcome = Outcome(wait.Task, out var lease);
                recorder.Add(thread, wait.Invoked, returned, new InFlightCall(InFlightCallKind.Completion, wait.Permits, wait.Lease), outcome);
                if (outcome == InFlightLimiterModel.Granted)
                {
                    helds[thread].Add((wait.Lease, wait.Permits, lease!));
                }
            }
        }

        RealThreadRounds.Run(
            Threads,
            Rounds,
            (thread, round) =>
            {
                var (script, held, waiting) = (scripts[thread], helds[thread], waitings[thread]);
                var next = thread * LeasesPerThread;
                var last = next + LeasesPerThread;
                for (var i = 0; i < OperationsPerThread; i++)
                {
                    Poll(thread);
                    var pick = script.Next(12);
                    if (thread == 1 && round % DisposalEvery == DisposalEvery - 1 && i == OperationsPerThread / 2)
                    {
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Dispose, 0, 0), () =>
                        {
                            limiter.Dispose();
                            return 0;
                        });
                    }
                    else if (thread == Threads - 1 && pick < 2)
                    {
                        var limit = script.Next(2, 5);
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Update, limit, 0), () =>
                        {
                            limiter.UpdateOptions(Options(limit));
                            return 0;
                        });
                    }
                    else if (pick < 2)
                    {
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Statistics, 0, 0), () => limiter.GetStatistics()!.CurrentAvailablePermits);
                    }
                    else if (pick < 4 && next < last)
                    {
                        var (lease, permits) = (next++, script.Next(1, 3));
                        RateLimitLease? handle = null;
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Acquire, permits, lease), () =>
                        {
                            try
                            {
                                handle = limiter.AttemptAcquire(permits);
                            }
                            catch (ObjectDisposedException)
                            {
                                return InFlightLimiterModel.Disposed;
                            }

                            return handle.IsAcquired ? InFlightLimiterModel.Granted : InFlightLimiterModel.Refused;
                        });
                        if (handle?.IsAcquired == true)
                        {
                            held.Add((lease, permits, handle));
                        }
                    }
                    else if (pick < 8 && next < last)
                    {
                        var (lease, permits) = (next++, script.Next(1, 3));
                        var cancellation = new CancellationTokenSource();
                        var invoked = recorder.Stamp();
                        ValueTask<RateLimitLease>? acquisition = null;
                        var queued = false;
                        try
                        {
                            // AcquireAsync's own path, which also tells whether the request waits.
                            acquisition = limiter.Acquire(permits, cancellation.Token, out queued);
                        }
                        catch (ObjectDisposedException)
                        {
                        }

                        var returned = recorder.Stamp();
                        var task = acquisition?.AsTask();
                        long answer;
                        if (task is null)
                        {
                            cancellation.Dispose();
                            answer = InFlightLimiterModel.Disposed;
                        }
                        else if (queued)
                        {
                            answer = InFlightLimiterModel.Queued;
                            waiting.Add(new Wait(lease, permits, invoked, task, cancellation));
                        }
                        else
                        {
                            cancellation.Dispose();
                            answer = Outcome(task, out var handle) == InFlightLimiterModel.Granted ? InFlightLimiterModel.Granted : InFlightLimiterModel.QueueFull;
                            if (answer == InFlightLimiterModel.Granted)
                            {
                                held.Add((lease, permits, handle!));
                            }
                        }

                        recorder.Add(thread, invoked, returned, new InFlightCall(InFlightCallKind.AcquireAsync, permits, lease), answer);
                    }
                    else if (pick < 10 && waiting.Count > 0)
                    {
                        var wait = waiting[script.Next(waiting.Count)];
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Cancel, wait.Permits, wait.Lease), () =>
                        {
                            wait.Cancellation.Cancel();
                            return 0;
                        });
                    }
                    else if (held.Count > 0)
                    {
                        var lease = held[script.Next(held.Count)];
                        Release(recorder, thread, lease);
                        held.Remove(lease);
                    }
                }
            },
            round =>
            {
                // Quiet: every release, cancellation and change has returned, and with it the admissions it made.
                for (var thread = 0; thread < Threads; thread++)
                {
                    Poll(thread);
                }

                var history = recorder.Take();

                // An acquisition called before a disposal returned may have looked at disposal before it.
                var disposed = history.FirstOrDefault(operation => operation.Call.Kind == InFlightCallKind.Dispose)?.Returned ?? 0;
                history = history.Select(operation => operation.Call.Kind is InFlightCallKind.Acquire or InFlightCallKind.AcquireAsync && operation.Invoked < disposed
                    ? operation with { Call = operation.Call with { CalledBeforeDisposal = true } }
                    : operation).ToList();
                var finals = checker.FinalStates(states, history);
                Assert.True(finals.Count > 0, $"round {round} is not linearizable from {string.Join(", ", states)}:\n{string.Join("\n", history)}");

                // Waiters whose calls overlapped may have queued in either order: some order must leave none the free
                // permits serve, and every waiter taken out of the queue must have seen its task complete.
                var served = finals.Where(state => (state.Queue.Length == 0 || (newestFirst ? state.Queue[^1] : state.Queue[0]) % 4 > state.Limit - state.InUse)
                    && state.Dropped == 0 && state.Cancelled == 0).ToList();
                Assert.True(served.Count > 0, $"round {round} left a waiter unserved or uncompleted: {string.Join(", ", finals)}\n{string.Join("\n", history)}");

                // The waits left are cancelled (one that leaves may let the next in: its lease is released), then the leases.
                for (var thread = 0; thread < Threads; thread++)
                {
                    var waiting = waitings[thread];
                    waiting.ForEach(wait => wait.Cancellation.Cancel());
                    foreach (var wait in waiting)
                    {
                        Assert.True(wait.Task.IsCompleted, "a cancelled wait did not complete");
                        wait.Cancellation.Dispose();
                        if (Outcome(wait.Task, out var lease) == InFlightLimiterModel.Granted)
                        {
                            granted++;
                            lease!.Dispose();
                        }
                    }

                    waiting.Clear();
                    helds[thread].ForEach(lease => lease.Handle.Dispose());
                    helds[thread].Clear();
                }

                states = served.Select(state => new InFlightState(0, state.Limit, 0)).ToHashSet();

                granted += history.Count(operation => operation.Call.Kind is InFlightCallKind.Acquire or InFlightCallKind.AcquireAsync or InFlightCallKind.Completion
                    && operation.Answer == InFlightLimiterModel.Granted);
                failed += history.Count(operation => operation.Call.Kind is InFlightCallKind.Acquire or InFlightCallKind.AcquireAsync or InFlightCallKind.Completion
                    && operation.Answer is InFlightLimiterModel.Refused or InFlightLimiterModel.QueueFull);
                var statistics = limiter.GetStatistics()!;
                Assert.Equal(granted, statistics.TotalSuccessfulLeases);
                Assert.Equal(failed, statistics.TotalFailedLeases);
                Assert.Equal(0, statistics.CurrentQueuedCount);

                // A disposed limiter is replaced by a fresh one with the limit it had.
                if (round % DisposalEvery == DisposalEvery - 1)
                {
                    var limit = Assert.Single(states.Select(state => state.Limit).Distinct());
                    limiter = new InFlightLimiter(Options(limit));
                    states = new HashSet<InFlightState> { new(0, limit, 0) };
                    (granted, failed) = (0, 0);
                }
            });
    }

    /// <summary>What a completed acquisition's task gives: its lease when acquired.</summary>
    private static long Outcome(Task<RateLimitLease> completed, out RateLimitLease? lease)
    {
        lease = null;
        if (completed.IsCanceled)
        {
            return InFlightLimiterModel.Cancelled;
        }

        lease = completed.Result;
        return lease.IsAcquired ? InFlightLimiterModel.Granted : InFlightLimiterModel.Refused;
    }

    private static void Release(HistoryRecorder<InFlightCall, long> recorder, int thread, (int Lease, int Permits, RateLimitLease Handle) lease) =>
        recorder.Record(thread, new InFlightCall(InFlightCallKind.Release, lease.Permits, lease.Lease), () =>
        {
            lease.Handle.Dispose();
            return 0;
        });

    private sealed record Wait(int Lease, int Permits, long Invoked, Task<RateLimitLease> Task, CancellationTokenSource Cancellation);
}
