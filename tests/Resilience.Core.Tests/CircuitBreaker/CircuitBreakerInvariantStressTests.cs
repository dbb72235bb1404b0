using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// Real threads drive every kind of transition at once (openings, probe rounds decided, given up or reset by hand,
/// isolation) while a ticker moves the clock, and the invariants a single-threaded model cannot see are checked: no
/// half-open round ever has more than its probes admitted, every generation is announced by exactly one event of the
/// right kind and the events chain, a stale permit never moves the breaker, a manual state is never overridden, and
/// what a window reshape loses is only calls recorded while it ran. Fixed seeds, bounded loops.
/// </summary>
public class CircuitBreakerInvariantStressTests
{
    private const int Workers = 4;
    private const int MaxGenerations = 1 << 20;

    [ThreadStatic]
    private static long t_recording;

    [Fact]
    public void Every_transition_is_announced_once_the_events_chain_and_no_round_admits_more_than_its_probes()
    {
        var time = new FakeTimeProvider();
        const int Probes = 3;
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            ConsecutiveFailures = 2,
            FailureRatio = 0.5,
            MinimumThroughput = 4,
            SamplingDuration = TimeSpan.FromMilliseconds(100),
            BucketCount = 4,
            BreakDuration = TimeSpan.FromMilliseconds(2),
            BreakDurationMultiplier = 2,
            MaxBreakDuration = TimeSpan.FromMilliseconds(8),
            PermittedProbes = Probes,
            ProbeSuccessRatio = 2.0 / 3,
            ProbeTimeout = TimeSpan.FromMilliseconds(3),
            TimeProvider = time,
        });

        // Per generation: the events of each kind, the state left and entered, and the probes admitted and not given back.
        var specific = new int[MaxGenerations];
        var general = new int[MaxGenerations];
        var wrongKind = 0;
        var from = new int[MaxGenerations];
        var to = new int[MaxGenerations];
        var admitted = new int[MaxGenerations];
        var overAdmitted = 0;
        void Specific(CircuitState kind, CircuitTransition t)
        {
            Interlocked.Increment(ref specific[t.Generation]);
            if (t.To != kind)
            {
                Interlocked.Increment(ref wrongKind);
            }
        }

        breaker.Opened += (_, t) => Specific(CircuitState.Open, t);
        breaker.HalfOpened += (_, t) => Specific(CircuitState.HalfOpen, t);
        breaker.Closed += (_, t) => Specific(CircuitState.Closed, t);
        breaker.Isolated += (_, t) => Specific(CircuitState.Isolated, t);
        breaker.Transitioned += (_, t) =>
        {
            Interlocked.Increment(ref general[t.Generation]);
            from[t.Generation] = (int)t.From + 1;
            to[t.Generation] = (int)t.To + 1;
        };

        // The workers run as long as the manual thread does; the ticker moves the clock a millisecond at a time meanwhile.
        void Report(CircuitPermit permit, CircuitCallResult result)
        {
            if (permit.IsProbe && result == CircuitCallResult.Ignored)
            {
                // Given back before the breaker frees the slot, so this count never lags below the breaker's. A late
                // probe gives back a slot of its own round, long over: the breaker must not free one of the current round.
                Interlocked.Decrement(ref admitted[permit.Generation]);
            }

            breaker.Record(permit, result);
        }

        var running = 1;
        var ticker = new Thread(() =>
        {
            for (var i = 0; i < 1_000_000 && Volatile.Read(ref running) > 0; i++)
            {
                time.Advance(TimeSpan.FromMilliseconds(1));
                Thread.SpinWait(200);
            }
        });
        var manual = new Thread(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                Thread.SpinWait(20_000);
                breaker.Isolate();
                Thread.SpinWait(500);
                breaker.Close();
            }

            Volatile.Write(ref running, 0);
        });
        ticker.Start();
        manual.Start();
        RunTogether(Workers, w =>
        {
            var random = new Random(17 + w);
            var held = new List<CircuitPermit>();
            for (var i = 0; i < 5_000_000 && Volatile.Read(ref running) > 0; i++)
            {
                if (!breaker.TryAcquire(out var permit))
                {
                    continue;
                }

                if (permit.IsProbe && Interlocked.Increment(ref admitted[permit.Generation]) > Probes)
                {
                    Interlocked.Increment(ref overAdmitted);
                }

                var roll = random.Next(10);
                if (roll == 0 || (permit.IsProbe && roll < 5))
                {
                    // Held: reported much later (a hung call), by then usually of an older generation. Probes are held
                    // often, so rounds fill their slots and time out.
                    held.Add(permit);
                    continue;
                }

                Report(permit, roll < 4 ? CircuitCallResult.Failure : roll < 6 ? CircuitCallResult.Ignored : CircuitCallResult.Success);
                if (held.Count > 8)
                {
                    Report(held[0], (CircuitCallResult)random.Next(3));
                    held.RemoveAt(0);
                }
            }
        });
        ticker.Join();
        manual.Join();

        var final = breaker.GetSnapshot();
        Assert.InRange(final.Generation, 100u, (uint)MaxGenerations - 1);
        Assert.Equal(0, overAdmitted);
        Assert.Equal(0, wrongKind);
        for (var g = 1; g <= final.Generation; g++)
        {
            Assert.True(specific[g] == 1 && general[g] == 1, $"generation {g}: {specific[g]} specific and {general[g]} general events");
            var previous = g == 1 ? CircuitState.Closed : (CircuitState)(to[g - 1] - 1);
            Assert.True(from[g] - 1 == (int)previous, $"generation {g} left {(CircuitState)(from[g] - 1)}, but generation {g - 1} entered {previous}");
        }

        Assert.Equal(0, specific[(int)final.Generation + 1] + general[(int)final.Generation + 1]);
        Assert.Equal(final.State, (CircuitState)(to[final.Generation] - 1));
    }

    [Fact]
    public void Isolation_and_reset_hold_against_racing_recorders_and_a_stale_permit_never_moves_the_breaker()
    {
        // Every failure of the current generation opens (one failure in a row), so recorders keep opening, probing and
        // closing while another thread isolates and closes by hand. Once isolated, no recorder may move the breaker
        // until the next Close; and every transition a recorder causes must come from a permit of the generation it
        // ends (recorded in a thread static around each Record).
        var time = new FakeTimeProvider();
        var breaker = new Breaker(new CircuitBreakerOptions
        {
            ConsecutiveFailures = 1,
            BreakDuration = TimeSpan.FromMilliseconds(1),
            PermittedProbes = 2,
            ProbeSuccessRatio = 0.5,
            TimeProvider = time,
        });
        var staleTransitions = 0;
        breaker.Transitioned += (_, t) =>
        {
            var recording = t_recording;
            if (recording != 0 && t.Reason != CircuitTransitionReason.Manual && (uint)(recording - 1) + 1 != t.Generation)
            {
                Interlocked.Increment(ref staleTransitions);
            }
        };

        var running = Workers;
        var recent = new CircuitPermit[Workers][];
        var leftIsolation = new List<(int Round, CircuitState State)>();
        var manual = new Thread(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                breaker.Isolate();
                for (var check = 0; check < 200; check++)
                {
                    if (breaker.State != CircuitState.Isolated)
                    {
                        leftIsolation.Add((i, breaker.State));
                        break;
                    }

                    time.Advance(TimeSpan.FromMilliseconds(1));
                }

                breaker.Close();
                Thread.SpinWait(2_000);
            }

            breaker.Isolate();
            Volatile.Write(ref running, 0);
        });
        manual.Start();
        RunTogether(Workers, w =>
        {
            var random = new Random(29 + w);
            var held = default(CircuitPermit);
            var mine = recent[w] = new CircuitPermit[64];
            for (var i = 0; i < 2_000_000 && Volatile.Read(ref running) > 0; i++)
            {
                if (!breaker.TryAcquire(out var permit))
                {
                    continue;
                }

                mine[i % mine.Length] = permit;

                // Now and then a permit is swapped with one held from earlier, so late results race the transitions.
                if (random.Next(8) == 0)
                {
                    (permit, held) = (held, permit);
                }

                if (!permit.IsAcquired)
                {
                    continue;
                }

                t_recording = permit.Generation + 1L;
                breaker.Record(permit, random.Next(3) == 0 ? CircuitCallResult.Failure : CircuitCallResult.Success);
                t_recording = 0;
            }
        });
        manual.Join();

        Assert.Empty(leftIsolation);
        Assert.Equal(0, staleTransitions);
        Assert.Equal(CircuitState.Isolated, breaker.State);
        Assert.Equal(CircuitState.Isolated, breaker.GetSnapshot().State);

        // Closed by hand last: every permit handed out before, reported now from all threads at once (failures that
        // would each open, ignored probes that would free slots), leaves it closed, with an empty window.
        breaker.Close();
        var closed = breaker.GetSnapshot();
        RunTogether(Workers, w =>
        {
            foreach (var permit in recent[w])
            {
                breaker.Record(permit, CircuitCallResult.Failure);
                breaker.Record(permit, CircuitCallResult.Ignored);
            }
        });
        Assert.Equal(closed with { Calls = 0 }, breaker.GetSnapshot());
        Assert.Equal(CircuitState.Closed, closed.State);
    }

    [Fact]
    public void A_window_reshape_under_load_loses_only_calls_recorded_while_it_ran_and_at_most_one_per_recorder()
    {
        // The clock stands still, so every count fits every shape: a count can only be lost by racing a rebuild. A
        // sequence number, odd while an update runs, tells each recorder whether a rebuild overlapped its call.
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, 500, TimeSpan.Zero));
        CircuitBreakerOptions Shape(int shape) => new()
        {
            FailureRatio = 1,
            MinimumThroughput = int.MaxValue,
            SlowCallDuration = TimeSpan.FromSeconds(1),
            SlowCallRatio = 1,
            SamplingDuration = TimeSpan.FromSeconds(shape switch { 0 => 10, 1 => 20, _ => 7 }),
            BucketCount = shape switch { 0 => 10, 1 => 40, _ => 7 },
            TimeProvider = time,
        };
        var breaker = new Breaker(Shape(0));
        const int Reshapes = 300;
        var sequence = 0L;
        var reshaping = 1;
        var calls = new long[Workers];
        var failures = new long[Workers];
        var slow = new long[Workers];
        var overlapping = new long[Workers];
        var overlappingFailures = new long[Workers];
        var overlappingSlow = new long[Workers];

        var updater = new Thread(() =>
        {
            for (var i = 1; i <= Reshapes; i++)
            {
                Interlocked.Increment(ref sequence);
                breaker.UpdateOptions(Shape(i % 3));
                Interlocked.Increment(ref sequence);
                Thread.SpinWait(3_000);
            }

            Volatile.Write(ref reshaping, 0);
        });
        updater.Start();
        RunTogether(Workers, w =>
        {
            for (var i = 0; Volatile.Read(ref reshaping) == 1; i++)
            {
                var before = Volatile.Read(ref sequence);
                breaker.TryAcquire(out var permit);
                var failure = (i + w) % 3 == 0;
                var isSlow = (i + w) % 5 == 0;
                breaker.Record(permit, failure ? CircuitCallResult.Failure : CircuitCallResult.Success, TimeSpan.FromSeconds(isSlow ? 1 : 0));
                var after = Volatile.Read(ref sequence);
                calls[w]++;
                failures[w] += failure ? 1 : 0;
                slow[w] += isSlow ? 1 : 0;
                if (before != after || (before & 1) != 0)
                {
                    overlapping[w]++;
                    overlappingFailures[w] += failure ? 1 : 0;
                    overlappingSlow[w] += isSlow ? 1 : 0;
                }
            }
        });
        updater.Join();

        var snapshot = breaker.GetSnapshot();
        Assert.Equal(0u, snapshot.Generation);
        Assert.Equal(Shape(Reshapes % 3).BucketCount, breaker.Options.BucketCount);
        Assert.InRange(snapshot.Calls, calls.Sum() - overlapping.Sum(), calls.Sum());
        Assert.InRange(snapshot.Failures, failures.Sum() - overlappingFailures.Sum(), failures.Sum());
        Assert.InRange(snapshot.SlowCalls, slow.Sum() - overlappingSlow.Sum(), slow.Sum());
        Assert.InRange(calls.Sum() - snapshot.Calls, 0, (long)Workers * Reshapes);
    }

    private static void RunTogether(int threads, Action<int> body)
    {
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            body(t);
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
    }
}
