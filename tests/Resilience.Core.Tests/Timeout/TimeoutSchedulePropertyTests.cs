using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Timeout;

public class TimeoutSchedulePropertyTests
{
    /// <summary>
    /// For any schedule of call starts, durations and caller cancellations on a fake clock: no call is cancelled by the
    /// timeout before its timeout, every call still running is cancelled by timeout + timeout / 16, a caller's cancel ends
    /// only that call (as the caller's cancellation), no call is handed a token already cancelled, no timer is left armed
    /// once every call has ended, and the sources a steady stream of calls needs afterwards are reused.
    /// </summary>
    [Property(MaxTest = 300, Replay = "(141421356,173205081)")]
    public Property Every_call_ends_with_its_own_outcome_within_the_documented_bound(int seed)
    {
        var random = new Random(seed);
        var fake = new FakeTimeProvider();
        var time = new CountingTimeProvider(fake);
        var timeoutMs = new[] { 16, 32, 160, 1600 }[random.Next(4)];
        var timeout = TimeSpan.FromMilliseconds(timeoutMs);
        var late = timeoutMs / 16;
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(new TimeoutOptions { Timeout = timeout, TimeProvider = time })
            .Build();

        var calls = Enumerable.Range(0, 1 + random.Next(12)).Select(_ => ScheduledCall.Draw(random, timeoutMs, fake)).ToList();
        var events = calls.SelectMany((c, i) => c.Events(i)).OrderBy(e => e.AtMs).ThenBy(e => e.Order).ToList();
        var origin = fake.GetUtcNow();
        var next = 0;
        var endMs = events[^1].AtMs + (4 * timeoutMs);

        // One millisecond at a time: the fake clock fires a timer at the time it advances to, not at its due time.
        for (long nowMs = 0; nowMs <= endMs; nowMs++)
        {
            if (nowMs > 0)
            {
                fake.Advance(TimeSpan.FromMilliseconds(1));
            }

            for (; next < events.Count && events[next].AtMs == nowMs; next++)
            {
                var e = events[next];
                var call = calls[e.Call];
                switch (e.Kind)
                {
                    case EventKind.Start:
                        call.Outcome = pipeline.ExecuteOutcomeAsync(
                            static (c, ct) => c.Run(ct), call, call.Caller?.Token ?? CancellationToken.None).AsTask();
                        break;
                    case EventKind.Finish:
                        call.Finish();
                        break;
                    default:
                        call.Caller!.Cancel();
                        break;
                }
            }
        }

        var failures = new List<string>();
        foreach (var (call, i) in calls.Select((c, i) => (c, i)))
        {
            call.Check(i, timeoutMs, late, origin, failures);
        }

        if (time.Armed != 0)
        {
            failures.Add($"{time.Armed} timers left armed after every call ended");
        }

        // Steady state: sequential calls share the slot open (one timer at most), and are never handed a cancelled token.
        var created = time.Created;
        using var steady = new CancellationTokenSource();
        for (var i = 0; i < 20; i++)
        {
            var shared = pipeline.ExecuteOutcome(static (_, ct) => ct.IsCancellationRequested ? -1 : 1, 0);
            if (shared.Result != 1)
            {
                failures.Add($"steady call {i} was handed a cancelled token");
            }
        }

        if (time.Created - created > 1)
        {
            failures.Add($"{time.Created - created} timers created for 20 sequential calls");
        }

        for (var i = 0; i < 20; i++)
        {
            var owned = pipeline.ExecuteOutcome(static (_, ct) => ct.IsCancellationRequested ? -1 : 1, 0, steady.Token);
            if (owned.Result != 1)
            {
                failures.Add($"steady call {i} with a caller token was handed a cancelled token");
            }
        }

        // The open slot's timer runs until it fires, at most a timeout and a sixteenth later; nothing else stays armed.
        fake.Advance(2 * timeout);
        if (time.Armed != 0)
        {
            failures.Add($"{time.Armed} timers left armed by calls that ended");
        }

        foreach (var call in calls)
        {
            call.Caller?.Dispose();
        }

        return (failures.Count == 0).Label($"timeout {timeoutMs} ms, {string.Join("; ", calls.Select((c, i) => $"#{i} {c}"))}: {string.Join("; ", failures)}");
    }

    private enum EventKind
    {
        Start = 0,
        Finish = 1,
        CallerCancel = 2,
    }

    private readonly record struct ScheduledEvent(long AtMs, int Order, EventKind Kind, int Call);

    private sealed class ScheduledCall
    {
        private readonly TaskCompletionSource<int> _done = new();
        private FakeTimeProvider _clock = null!;

        public long StartMs { get; private init; }

        /// <summary>Gets how long the callback runs if nothing cancels it; null for never.</summary>
        public long? DurationMs { get; private init; }

        /// <summary>Gets when, after its start, the caller cancels; null for never.</summary>
        public long? CancelAfterMs { get; private init; }

        public CancellationTokenSource? Caller { get; private init; }

        public Task<Outcome<int>>? Outcome { get; set; }

        public bool InvokedWithCancelledToken { get; private set; }

        public DateTimeOffset? CancelledAt { get; private set; }

        public static ScheduledCall Draw(Random random, int timeoutMs, FakeTimeProvider clock)
        {
            var cancellable = random.Next(2) == 0;
            return new ScheduledCall
            {
                _clock = clock,
                StartMs = random.Next(3 * timeoutMs),
                DurationMs = random.Next(5) < 2 ? null : 1 + random.Next(2 * timeoutMs),
                Caller = cancellable ? new CancellationTokenSource() : null,
                CancelAfterMs = cancellable && random.Next(2) == 0 ? 1 + random.Next(2 * timeoutMs) : null,
            };
        }

        public IEnumerable<ScheduledEvent> Events(int call)
        {
            yield return new ScheduledEvent(StartMs, 0, EventKind.Start, call);
            if (DurationMs is { } duration)
            {
                yield return new ScheduledEvent(StartMs + duration, 1, EventKind.Finish, call);
            }

            if (CancelAfterMs is { } cancel)
            {
                yield return new ScheduledEvent(StartMs + cancel, 2, EventKind.CallerCancel, call);
            }
        }

        public ValueTask<int> Run(CancellationToken token)
        {
            InvokedWithCancelledToken = token.IsCancellationRequested;
            token.Register(() =>
            {
                CancelledAt = _clock.GetUtcNow();
                _done.TrySetCanceled(token);
            });
            return new ValueTask<int>(_done.Task);
        }

        public void Finish() => _done.TrySetResult(1);

        public void Check(int index, int timeoutMs, int lateMs, DateTimeOffset origin, List<string> failures)
        {
            if (Outcome is not { IsCompleted: true } task)
            {
                failures.Add($"#{index} never ended");
                return;
            }

            if (InvokedWithCancelledToken)
            {
                failures.Add($"#{index} was handed a cancelled token");
            }

            var outcome = task.Result;
            var cancelledMs = CancelledAt is { } at ? (long)(at - origin).TotalMilliseconds - StartMs : (long?)null;
            var finishMs = DurationMs ?? long.MaxValue;
            var callerMs = CancelAfterMs ?? long.MaxValue;
            switch (outcome.Exception)
            {
                case null:
                    if (finishMs >= timeoutMs + lateMs || callerMs < finishMs)
                    {
                        failures.Add($"#{index} succeeded after {finishMs} ms");
                    }

                    break;
                case TimeoutRejectedException:
                    if (cancelledMs is not { } firedMs || firedMs < timeoutMs || firedMs > timeoutMs + lateMs || finishMs < firedMs || callerMs < firedMs)
                    {
                        failures.Add($"#{index} timed out, cancelled after {cancelledMs} ms");
                    }

                    break;
                case OperationCanceledException cancelled:
                    if (cancelledMs != callerMs || cancelled.CancellationToken != Caller!.Token || callerMs > finishMs || callerMs > timeoutMs + lateMs)
                    {
                        failures.Add($"#{index} ended as the caller's cancellation, cancelled after {cancelledMs} ms");
                    }

                    break;
                default:
                    failures.Add($"#{index} failed with {outcome.Exception.GetType().Name}");
                    break;
            }
        }

        public override string ToString() => $"start {StartMs}, runs {DurationMs?.ToString() ?? "forever"}, caller {(Caller is null ? "none" : CancelAfterMs?.ToString() ?? "never cancels")}";
    }
}
