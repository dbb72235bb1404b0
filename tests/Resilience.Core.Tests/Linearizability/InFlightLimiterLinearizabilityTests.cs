using System.Threading.RateLimiting;

namespace Resilience.Tests.Linearizability;

/// <summary>
/// Real threads acquire, release (some leases twice), read statistics and raise or lower the limit of one
/// <see cref="InFlightLimiter"/> together; every round's history must be linearizable against
/// <see cref="InFlightLimiterModel"/>, each round starting from the states the previous one may have ended in.
/// </summary>
public class InFlightLimiterLinearizabilityTests
{
    private const int Threads = 3;
    private const int OperationsPerThread = 7;
    private const int Rounds = 2000;
    private const int LeasesPerThread = 16;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Acquisitions_releases_statistics_and_limit_changes_are_linearizable(int seed)
    {
        var limiter = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = 3 });
        var checker = new LinearizabilityChecker<InFlightState, InFlightCall, long>(new InFlightLimiterModel());
        var recorder = new HistoryRecorder<InFlightCall, long>(Threads);
        var scripts = Enumerable.Range(0, Threads).Select(thread => new Random((seed * 7919) + thread)).ToArray();
        IReadOnlySet<InFlightState> states = new HashSet<InFlightState> { new(0, 3, 0) };
        long granted = 0, refused = 0;

        RealThreadRounds.Run(
            Threads,
            Rounds,
            (thread, _) =>
            {
                var script = scripts[thread];
                var held = new List<(int Lease, int Permits, RateLimitLease Handle)>();
                var released = new List<(int Lease, int Permits, RateLimitLease Handle)>();
                var next = thread * LeasesPerThread;
                for (var i = 0; i < OperationsPerThread; i++)
                {
                    var pick = script.Next(10);
                    if (thread == Threads - 1 && pick < 3)
                    {
                        var limit = script.Next(2, 5);
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Update, limit, 0), () =>
                        {
                            limiter.UpdateOptions(new InFlightLimiterOptions { PermitLimit = limit });
                            return 0;
                        });
                    }
                    else if (pick < 2)
                    {
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Statistics, 0, 0), () => limiter.GetStatistics()!.CurrentAvailablePermits);
                    }
                    else if (pick < 6 && held.Count < 2)
                    {
                        var (lease, permits) = (next++, script.Next(1, 3));
                        RateLimitLease? handle = null;
                        recorder.Record(thread, new InFlightCall(InFlightCallKind.Acquire, permits, lease), () =>
                        {
                            handle = limiter.AttemptAcquire(permits);
                            return handle.IsAcquired ? 1 : 0;
                        });
                        if (handle!.IsAcquired)
                        {
                            held.Add((lease, permits, handle));
                        }
                    }
                    else if (held.Count > 0 && (pick < 9 || released.Count == 0))
                    {
                        var lease = held[script.Next(held.Count)];
                        Release(recorder, thread, lease);
                        held.Remove(lease);
                        released.Add(lease);
                    }
                    else if (released.Count > 0)
                    {
                        // A lease disposed again releases nothing.
                        Release(recorder, thread, released[script.Next(released.Count)]);
                    }
                }

                foreach (var lease in held)
                {
                    Release(recorder, thread, lease);
                }
            },
            round =>
            {
                var history = recorder.Take();
                var finals = checker.FinalStates(states, history);
                Assert.True(finals.Count > 0, $"round {round} is not linearizable from {string.Join(", ", states)}:\n{string.Join("\n", history)}");
                Assert.All(finals, state => Assert.Equal(0, state.InUse));
                states = finals.Select(state => state with { Held = 0 }).ToHashSet();

                granted += history.Count(operation => operation.Call.Kind == InFlightCallKind.Acquire && operation.Answer == 1);
                refused += history.Count(operation => operation.Call.Kind == InFlightCallKind.Acquire && operation.Answer == 0);
                var statistics = limiter.GetStatistics()!;
                Assert.Equal(granted, statistics.TotalSuccessfulLeases);
                Assert.Equal(refused, statistics.TotalFailedLeases);
            });
    }

    private static void Release(HistoryRecorder<InFlightCall, long> recorder, int thread, (int Lease, int Permits, RateLimitLease Handle) lease) =>
        recorder.Record(thread, new InFlightCall(InFlightCallKind.Release, lease.Permits, lease.Lease), () =>
        {
            lease.Handle.Dispose();
            return 0;
        });
}
