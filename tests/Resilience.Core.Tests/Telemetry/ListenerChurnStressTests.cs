using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Resilience.Telemetry;

namespace Resilience.Tests.Telemetry;

/// <summary>
/// Real threads call instrumented pipelines while another thread attaches and detaches a meter listener, round after
/// round: no call may fail for it or end otherwise than it would unobserved, a call made wholly while one listener was
/// attached must be counted (and timed) by that listener exactly once, no call may be counted twice, and the tracked
/// limiter's gauges must read consistent values whenever collected.
/// </summary>
public sealed class ListenerChurnStressTests
{
    private const int Workers = 3;
    private const int Rounds = 150;
    private const int MaxCallsPerWorker = 200_000;
    private const int PermitLimit = 2;
    private const int QueueLimit = 64;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_listener_attached_and_detached_while_calls_run_loses_no_call_made_under_it_and_counts_none_twice()
    {
        using var telemetry = new ResilienceTelemetry();
        using var gate = new InFlightLimiter(new InFlightLimiterOptions { PermitLimit = PermitLimit, QueueLimit = QueueLimit });
        using var tracked = telemetry.Track(gate, "gate");
        var pipelines = Enumerable.Range(0, Workers).Select(worker => new ResiliencePipelineBuilder { Name = $"w{worker}" }
            .AddTelemetry(telemetry)
            .AddRateLimiter(gate, waitForPermit: true, name: "gate")
            .Build()).ToArray();
        var shedding = Enumerable.Range(0, Workers).Select(worker => new ResiliencePipelineBuilder { Name = $"w{worker}-shed" }
            .AddTelemetry(telemetry)
            .AddStrategy(new SheddingStrategy("shed"))
            .Build()).ToArray();

        // Odd: listener (state - 1) / 2 is attached (written after it started); even: none is (written before the
        // last one is disposed). A call that reads the same odd state before it starts and after it ends ran wholly
        // while that listener was attached.
        long state = 0;
        var stop = 0;
        var completed = 0L;
        var heard = new ConcurrentDictionary<(long Listener, string Key), long>();
        var gauges = new ConcurrentBag<string>();
        var calls = new List<(long Before, long After, string Key)>[Workers];

        var workers = Enumerable.Range(0, Workers).Select(worker => Task.Factory.StartNew(
            async () =>
            {
                var made = new List<(long, long, string)>();
                calls[worker] = made;
                for (var i = 0; i < MaxCallsPerWorker && Volatile.Read(ref stop) == 0; i++)
                {
                    var before = Volatile.Read(ref state);
                    var (outcome, rejected) = await CallAsync(pipelines[worker], shedding[worker], i);
                    var after = Volatile.Read(ref state);
                    var name = rejected ? $"w{worker}-shed" : $"w{worker}";
                    made.Add((before, after, $"calls {name} {outcome}"));
                    if (rejected)
                    {
                        made.Add((before, after, $"rejections {name}"));
                    }

                    Interlocked.Increment(ref completed);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default).Unwrap()).ToArray();

        var churn = Task.Factory.StartNew(
            () =>
            {
                try
                {
                    for (long listener = 0; listener < Rounds; listener++)
                    {
                        using (var meterListener = Listen(telemetry.Meter, listener, heard))
                        {
                            Volatile.Write(ref state, (listener * 2) + 1);
                            AwaitCalls(ref completed, Workers * 2);
                            meterListener.RecordObservableInstruments();
                            foreach (var line in heard.Where(pair => pair.Key.Listener == listener && pair.Key.Key.StartsWith("gauge", StringComparison.Ordinal)))
                            {
                                gauges.Add(line.Key.Key);
                            }

                            Volatile.Write(ref state, (listener * 2) + 2);
                        }

                        AwaitCalls(ref completed, Workers);
                    }
                }
                finally
                {
                    Volatile.Write(ref stop, 1);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        await churn;
        await Task.WhenAll(workers);

        // Every call ran as unobserved (CallAsync checks each outcome); now the counts.
        var all = calls.SelectMany(made => made).ToList();
        var certain = 0;
        foreach (var key in all.Select(call => call.Key).Distinct())
        {
            var instrument = key.StartsWith("calls", StringComparison.Ordinal) ? new[] { "calls", "duration" } : ["rejections"];
            foreach (var name in instrument)
            {
                var measured = name + key[key.IndexOf(' ', StringComparison.Ordinal)..];
                long total = 0;
                for (long listener = 0; listener < Rounds; listener++)
                {
                    var odd = (listener * 2) + 1;
                    var wholly = all.Count(call => call.Key == key && call.Before == odd && call.After == odd);
                    var overlapping = all.Count(call => call.Key == key && call.Before <= odd + 1 && call.After >= odd - 1);
                    var count = heard.GetValueOrDefault((listener, measured));
                    Assert.True(
                        count >= wholly && count <= overlapping,
                        $"listener {listener}: {measured} heard {count} times; {wholly} such calls ran wholly under it, {overlapping} overlapped it");
                    certain += name == "calls" ? wholly : 0;
                    total += count;
                }

                Assert.True(total <= all.Count(call => call.Key == key), $"{measured} heard {total} times in all, of {all.Count(call => call.Key == key)} calls");
            }
        }

        // The rounds waited for calls under each listener: many were made wholly under one.
        Assert.InRange(certain, Rounds, int.MaxValue);
        Assert.DoesNotContain(heard.Keys, key => key.Key.StartsWith("unexpected", StringComparison.Ordinal));
        Assert.NotEmpty(gauges);
        Assert.All(gauges, line => Assert.Matches(@"^gauge (permits_available [0-2]|queued ([0-9]|[1-5][0-9]|6[0-4]))$", line));
        var statistics = gate.GetStatistics()!;
        Assert.Equal((PermitLimit, 0L), (statistics.CurrentAvailablePermits, statistics.CurrentQueuedCount));
    }

    /// <summary>One call of a known kind; throws if it ended otherwise than it must. Returns its outcome tag and whether it was refused.</summary>
    private static async Task<(string Outcome, bool Rejected)> CallAsync(ResiliencePipeline pipeline, ResiliencePipeline shedding, int i)
    {
        switch (i % 6)
        {
            case 0:
                Assert.Equal(i, pipeline.Execute(_ => i));
                return ("success", false);
            case 1:
                Assert.Equal(i, await pipeline.ExecuteAsync(async _ =>
                {
                    await Task.Yield();
                    return i;
                }));
                return ("success", false);
            case 2:
                Assert.Equal($"sync {i}", Assert.Throws<IOException>(() => pipeline.Execute<int>(_ => throw new IOException($"sync {i}"))).Message);
                return ("failure", false);
            case 3:
                Assert.Equal($"async {i}", (await Assert.ThrowsAsync<IOException>(async () => await pipeline.ExecuteAsync<int>(async _ =>
                {
                    await Task.Yield();
                    throw new IOException($"async {i}");
                }))).Message);
                return ("failure", false);
            case 4:
                Assert.Equal("shed", Assert.Throws<ResilienceRejectedException>(() => shedding.Execute(_ => i)).StrategyName);
                return ("rejected", true);
            default:
                using (var caller = new CancellationTokenSource())
                {
                    await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pipeline.ExecuteAsync<int>(
                        async token =>
                        {
                            await Task.Yield();
                            caller.Cancel();
                            token.ThrowIfCancellationRequested();
                            return i;
                        },
                        caller.Token));
                }

                return ("cancelled", false);
        }
    }

    /// <summary>A listener to every instrument of <paramref name="meter"/>, keeping what it hears under its number.</summary>
    private static MeterListener Listen(Meter meter, long number, ConcurrentDictionary<(long, string), long> heard)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, meter))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Hear(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Hear(instrument, 1, tags));
        listener.Start();
        return listener;

        void Hear(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var named = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                named[tag.Key] = tag.Value;
            }

            string? Tag(string name) => named.GetValueOrDefault(name) as string;

            var key = instrument.Name switch
            {
                "resilience.pipeline.calls" when value == 1 => $"calls {Tag("pipeline")} {Tag("outcome")}",
                "resilience.pipeline.duration" => $"duration {Tag("pipeline")} {Tag("outcome")}",
                "resilience.strategy.rejections" when value == 1 && Tag("strategy") == "shed" => $"rejections {Tag("pipeline")}",
                "resilience.rate_limiter.waits" when value == 1 => "waits",
                "resilience.rate_limiter.permits_available" => $"gauge permits_available {value}",
                "resilience.rate_limiter.queued" => $"gauge queued {value}",
                _ => $"unexpected {instrument.Name} {value}",
            };
            heard.AddOrUpdate((number, key), 1, static (_, count) => count + 1);
        }
    }

    /// <summary>Waits (bounded) until <paramref name="calls"/> more calls have completed.</summary>
    private static void AwaitCalls(ref long completed, int calls)
    {
        var target = Volatile.Read(ref completed) + calls;
        var deadline = Stopwatch.StartNew();
        var spinner = default(SpinWait);
        while (Volatile.Read(ref completed) < target)
        {
            Assert.True(deadline.Elapsed < Patience, "the workers stopped making calls");
            spinner.SpinOnce();
        }
    }
}
