using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.Linearizability;

/// <summary>
/// Real threads acquire, report results (some late, in a later generation), isolate, close and read the state of one
/// breaker together, time fixed within a round; every round's history must be linearizable against
/// <see cref="CircuitBreakerModel"/>: admissions, probe slots (never more than <c>PermittedProbes</c> in a round),
/// transitions and the generation rule are atomic.
/// </summary>
/// <remarks>
/// What is not checked, because docs/circuit-breaker.md does not make it atomic: the window's figures (summed across
/// stripes while others record, so a snapshot's counts or a ratio decision may include some of the results
/// recorded meanwhile and not others) and a window reshape. The breaker here opens on consecutive failures only, its
/// minimum throughput never reached.
/// </remarks>
public class CircuitBreakerLinearizabilityTests
{
    private const int Threads = 3;
    private const int OperationsPerThread = 6;
    private const int Rounds = 2000;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Admissions_probes_transitions_and_generations_are_linearizable(int seed)
    {
        var time = new FakeTimeProvider();
        var options = new CircuitBreakerOptions
        {
            MinimumThroughput = int.MaxValue,
            ConsecutiveFailures = 2,
            BreakDuration = TimeSpan.FromSeconds(1),
            PermittedProbes = 2,
            ProbeSuccessRatio = 1,
            ProbeTimeout = TimeSpan.FromSeconds(2),
            TimeProvider = time,
        };
        var breaker = new Breaker(options);
        var model = new CircuitBreakerModel(options);
        var checker = new LinearizabilityChecker<BreakerState, BreakerCall, BreakerAnswer>(model);
        var recorder = new HistoryRecorder<BreakerCall, BreakerAnswer>(Threads);
        var random = new Random(seed);
        var scripts = Enumerable.Range(0, Threads).Select(thread => new Random((seed * 7919) + thread)).ToArray();

        // Permits outlive their round: a result reported rounds later belongs to a generation long gone.
        var permits = Enumerable.Range(0, Threads).Select(_ => new List<CircuitPermit>()).ToArray();
        IReadOnlySet<BreakerState> states = new HashSet<BreakerState> { CircuitBreakerModel.Initial };
        int probes = 0, broken = 0, isolated = 0;

        RealThreadRounds.Run(
            Threads,
            Rounds,
            (thread, _) =>
            {
                var (script, held) = (scripts[thread], permits[thread]);
                for (var i = 0; i < OperationsPerThread; i++)
                {
                    var pick = script.Next(20);
                    if (thread == Threads - 1 && pick < 2)
                    {
                        var kind = pick == 0 ? BreakerCallKind.Isolate : BreakerCallKind.Close;
                        recorder.Record(thread, new BreakerCall(kind), () =>
                        {
                            if (kind == BreakerCallKind.Isolate)
                            {
                                breaker.Isolate();
                            }
                            else
                            {
                                breaker.Close();
                            }

                            return BreakerAnswer.None;
                        });
                    }
                    else if (pick < 4)
                    {
                        recorder.Record(thread, new BreakerCall(BreakerCallKind.State), () => BreakerAnswer.None with { State = breaker.State });
                    }
                    else if (pick < 6)
                    {
                        recorder.Record(thread, new BreakerCall(BreakerCallKind.Snapshot), () =>
                        {
                            var snapshot = breaker.GetSnapshot();
                            return BreakerAnswer.None with { State = snapshot.State, Generation = snapshot.Generation };
                        });
                    }
                    else if (pick < 12 || held.Count == 0)
                    {
                        recorder.Record(thread, new BreakerCall(BreakerCallKind.Acquire), () =>
                        {
                            if (breaker.TryAcquire(out var permit))
                            {
                                held.Add(permit);
                                return BreakerAnswer.None with { Admitted = true, Probe = permit.IsProbe, Generation = permit.Generation };
                            }

                            return BreakerAnswer.None with { Reason = permit.RejectionReason, RetryAfterTicks = permit.RetryAfter?.Ticks ?? -1 };
                        });
                    }
                    else
                    {
                        // Mostly the newest permit (a call that just ended), sometimes one left from an earlier round.
                        var permit = held[script.Next(4) == 0 ? 0 : held.Count - 1];
                        held.Remove(permit);
                        var result = (CircuitCallResult)(script.Next(10) switch { < 5 => 0, < 9 => 1, _ => 2 });
                        recorder.Record(thread, new BreakerCall(BreakerCallKind.Record, permit.Generation, permit.IsProbe, result), () =>
                        {
                            breaker.Record(permit, result);
                            return BreakerAnswer.None;
                        });
                    }
                }

                if (held.Count > 3)
                {
                    held.RemoveRange(0, held.Count - 3);
                }
            },
            round =>
            {
                var history = recorder.Take();
                model.NowTicks = time.GetTimestamp();
                var finals = checker.FinalStates(states, history);
                Assert.True(finals.Count > 0, $"round {round} is not linearizable from {string.Join(", ", states)} at {model.NowTicks}:\n{string.Join("\n", history)}");
                states = finals;
                probes += history.Count(operation => operation.Answer.Probe);
                broken += history.Count(operation => operation.Answer.Reason == RejectionReason.BrokenCircuit);
                isolated += history.Count(operation => operation.Answer.Reason == RejectionReason.IsolatedCircuit);

                time.Advance(random.Next(5) switch
                {
                    0 or 1 => TimeSpan.Zero,
                    2 => TimeSpan.FromMilliseconds(500),
                    3 => TimeSpan.FromSeconds(1),
                    _ => TimeSpan.FromMilliseconds(random.Next(0, 2500)),
                });
            });

        // The rounds went through every state: probes admitted, calls refused while open and while isolated.
        Assert.True(probes > 0 && broken > 0 && isolated > 0, $"{probes} probes, {broken} refused open, {isolated} refused isolated");
    }
}
