using Microsoft.Extensions.Time.Testing;

namespace Resilience.Tests.Pipeline;

/// <summary>The synchronous forms wait on the caller's thread, and every attempt runs there.</summary>
public class SynchronousExecutionTests
{
    [Fact]
    public void Attempts_after_a_retry_delay_run_on_the_calling_thread()
    {
        var time = new FakeTimeProvider();
        var retry = new RecordingStrategy("retry") { OnExit = (o, n) => o.IsHandled && n < 2 ? ExitAction.Retry(TimeSpan.FromSeconds(1)) : ExitAction.Continue };
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddStrategy(retry).AddStrategy(new RecordingStrategy("inner")).Build();
        var threads = new List<int>();

        var (caller, result) = RunOnOwnThread(
            () => pipeline.Execute(_ =>
            {
                threads.Add(Environment.CurrentManagedThreadId);
                return threads.Count < 2 ? throw new IOException() : threads.Count;
            }),
            whileBlocked: () => time.Advance(TimeSpan.FromSeconds(1)),
            untilDone: () => time.Advance(TimeSpan.FromSeconds(1)));

        Assert.Equal(2, result);
        Assert.Equal([caller, caller], threads);
    }

    [Fact]
    public void The_callback_after_an_awaited_admission_runs_on_the_calling_thread()
    {
        var admission = new TaskCompletionSource<Entry>();
        var waiting = new RecordingStrategy("queue") { OnEnter = () => Entry.Pending(admission.Task) };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(new RecordingStrategy("outer")).AddStrategy(waiting).Build();
        var threads = new List<int>();

        var (caller, outcome) = RunOnOwnThread(
            () => pipeline.ExecuteOutcome((_, _) => { threads.Add(Environment.CurrentManagedThreadId); return 1; }, 0),
            whileBlocked: () => admission.SetResult(Entry.Admitted));

        Assert.Equal(1, outcome.Result);
        Assert.Equal([caller], threads);
    }

    /// <summary>
    /// Runs <paramref name="call"/> on a thread of its own and, once that thread is blocked, <paramref name="whileBlocked"/>
    /// on this one; then <paramref name="untilDone"/> (if any) until the call returns, in case the thread was blocked on
    /// something else first (the runtime's own locks) and the wait began later.
    /// </summary>
    private static (int Thread, T Result) RunOnOwnThread<T>(Func<T> call, Action whileBlocked, Action? untilDone = null)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = call();
            }
            catch (Exception exception)
            {
                failure = exception;
            }
        })
        { IsBackground = true };
        thread.Start();
        for (var i = 0; i < 2_000 && (thread.ThreadState & ThreadState.WaitSleepJoin) == 0; i++)
        {
            Thread.Sleep(1);
        }

        whileBlocked();
        for (var i = 0; i < 1_000 && untilDone is not null && !thread.Join(10); i++)
        {
            untilDone();
        }

        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        Assert.Null(failure);
        return (thread.ManagedThreadId, result);
    }
}
