using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Time;

namespace Resilience.Tests.Pipeline;

public class PipelineExecutionTests
{
    private static (ResiliencePipeline Pipeline, RecordingStrategy Outer, RecordingStrategy Inner, ConcurrentQueue<string> Log) TwoStrategies()
    {
        var log = new ConcurrentQueue<string>();
        var outer = new RecordingStrategy("outer", log);
        var inner = new RecordingStrategy("inner", log);
        var pipeline = new ResiliencePipelineBuilder { Name = "test" }.AddStrategy(outer).AddStrategy(inner).Build();
        return (pipeline, outer, inner, log);
    }

    [Fact]
    public void Strategies_are_entered_in_order_and_exited_in_reverse()
    {
        var (pipeline, _, _, log) = TwoStrategies();

        var result = pipeline.Execute(_ => { log.Enqueue("call"); return 7; });

        Assert.Equal(7, result);
        Assert.Equal(["enter outer", "enter inner", "call", "exit inner", "exit outer"], log);
    }

    [Fact]
    public async Task Async_callback_that_completes_later_is_awaited_once_and_strategies_exit_after_it()
    {
        var (pipeline, outer, _, log) = TwoStrategies();
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var call = pipeline.ExecuteAsync(_ => new ValueTask<int>(gate.Task), CancellationToken.None);

        Assert.False(call.IsCompleted);
        Assert.Equal(["enter outer", "enter inner"], log);
        gate.SetResult(5);

        Assert.Equal(5, await call);
        Assert.Equal(["enter outer", "enter inner", "exit inner", "exit outer"], log);
        Assert.True(outer.Outcomes.Single().IsSuccess);
    }

    [Fact]
    public async Task Synchronous_completion_returns_a_completed_task()
    {
        var (pipeline, _, _, _) = TwoStrategies();

        var call = pipeline.ExecuteAsync(static (s, _) => new ValueTask<string>(s + "!"), "hi", CancellationToken.None);

        Assert.True(call.IsCompletedSuccessfully);
        Assert.Equal("hi!", await call);
    }

    [Fact]
    public async Task Callback_that_throws_synchronously_is_an_outcome_and_then_thrown_by_the_throwing_form()
    {
        var (pipeline, outer, inner, _) = TwoStrategies();
        var failure = new InvalidOperationException("boom");

        var outcome = await pipeline.ExecuteOutcomeAsync<int, Exception>(static (e, _) => throw e, failure);
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.ExecuteAsync<int>(_ => throw failure).AsTask());

        Assert.Same(failure, outcome.Exception);
        Assert.Same(failure, thrown);
        Assert.All(inner.Outcomes, o => Assert.True(o.IsHandled));
        Assert.All(outer.Outcomes, o => Assert.Same(failure, o.Exception));
    }

    [Fact]
    public async Task Faulted_task_completing_later_is_classified_as_failure()
    {
        var (pipeline, outer, _, _) = TwoStrategies();

        var outcome = await pipeline.ExecuteOutcomeAsync(static async (_, ct) =>
        {
            await Task.Yield();
            throw new TimeoutException();
#pragma warning disable CS0162 // the lambda needs a result type
            return 0;
#pragma warning restore CS0162
        }, 0);

        Assert.IsType<TimeoutException>(outcome.Exception);
        Assert.True(outer.Outcomes.Single().IsHandled);
    }

    [Fact]
    public void Sync_void_and_state_forms_pass_state_and_token()
    {
        var (pipeline, _, _, _) = TwoStrategies();
        using var cts = new CancellationTokenSource();
        var seen = new List<(string, CancellationToken)>();

        pipeline.Execute(static (list, ct) => list.Add(("state", ct)), seen, cts.Token);
        pipeline.Execute(ct => seen.Add(("closure", ct)), cts.Token);
        var outcome = pipeline.ExecuteOutcome(static (list, _) => list.Count, seen);

        Assert.Equal([("state", cts.Token), ("closure", cts.Token)], seen);
        Assert.Equal(2, outcome.Result);
    }

    [Fact]
    public async Task Async_void_forms_complete_and_throw()
    {
        var (pipeline, _, inner, _) = TwoStrategies();
        var count = 0;

        await pipeline.ExecuteAsync(async ct => { await Task.Yield(); count++; });
        await pipeline.ExecuteAsync(static (box, _) => { box[0]++; return ValueTask.CompletedTask; }, new int[1]);
        await Assert.ThrowsAsync<FormatException>(() => pipeline.ExecuteAsync(_ => ValueTask.FromException(new FormatException())).AsTask());

        Assert.Equal(1, count);
        Assert.Equal(3, inner.Outcomes.Count);
        Assert.True(inner.Outcomes[2].IsHandled);
    }

    [Fact]
    public void Exception_predicate_decides_what_is_handled()
    {
        var judged = new RecordingStrategy("judged");
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(judged, static e => e is TimeoutException).Build();

        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new TimeoutException(), 0);
        pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new FormatException(), 0);
        pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.Equal([true, false, false], judged.Outcomes.Select(o => o.IsHandled));
        Assert.Equal([false, false, true], judged.Outcomes.Select(o => o.IsSuccess));
    }

    [Fact]
    public void Typed_predicate_judges_results_without_an_exception()
    {
        var judged = new RecordingStrategy("judged");
        var plain = new RecordingStrategy("plain");
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddStrategy(judged, static o => o.Exception is not null || o.Result >= 500)
            .AddStrategy(plain)
            .Build();

        var ok = pipeline.Execute(static _ => 200);
        var unavailable = pipeline.Execute(static _ => 503);

        Assert.Equal((200, 503), (ok, unavailable));
        Assert.Equal([false, true], judged.Outcomes.Select(o => o.IsHandled));
        Assert.Equal([false, false], plain.Outcomes.Select(o => o.IsHandled));
    }

    [Fact]
    public async Task Caller_cancellation_is_neither_success_nor_failure_but_a_dependency_cancellation_is_a_failure()
    {
        var (pipeline, outer, _, _) = TwoStrategies();
        using var caller = new CancellationTokenSource();

        var cancelled = await pipeline.ExecuteOutcomeAsync(static (caller, ct) => { caller.Cancel(); return ValueTask.FromCanceled<int>(ct); }, caller, caller.Token);
        var dependency = await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new TaskCanceledException("socket timeout")), 0);

        Assert.IsAssignableFrom<OperationCanceledException>(cancelled.Exception);
        Assert.True(outer.Outcomes[0].IsCallerCancelled);
        Assert.False(outer.Outcomes[0].IsHandled);
        Assert.False(outer.Outcomes[0].IsSuccess);
        Assert.False(outer.Outcomes[1].IsCallerCancelled);
        Assert.True(outer.Outcomes[1].IsHandled);
    }

    [Fact]
    public async Task Rejection_is_an_outcome_without_exception_until_asked_and_skips_inner_strategies()
    {
        var log = new ConcurrentQueue<string>();
        var outer = new RecordingStrategy("outer", log);
        var gate = new RecordingStrategy("gate", log) { OnEnter = () => Entry.Reject(RejectionReason.RateLimited, TimeSpan.FromSeconds(3)) };
        var inner = new RecordingStrategy("inner", log);
        var pipeline = new ResiliencePipelineBuilder { Name = "orders" }.AddStrategy(outer).AddStrategy(gate).AddStrategy(inner).Build();
        var calls = 0;

        var outcome = pipeline.ExecuteOutcome((_, _) => ++calls, 0);
        var thrown = await Assert.ThrowsAsync<ResilienceRejectedException>(() => pipeline.ExecuteAsync(_ => new ValueTask<int>(++calls)).AsTask());

        Assert.Equal(0, calls);
        Assert.True(outcome.IsRejected);
        Assert.Equal(RejectionReason.RateLimited, outcome.Rejection.Reason);
        Assert.Equal(TimeSpan.FromSeconds(3), outcome.Rejection.RetryAfter);
        Assert.Same(gate, outcome.Rejection.Strategy);
        Assert.Equal(("orders", "gate", TimeSpan.FromSeconds(3)), (thrown.PipelineName, thrown.StrategyName, thrown.RetryAfter));
        Assert.True(outer.Outcomes[0].IsRejected);
        Assert.False(outer.Outcomes[0].IsHandled);
        Assert.Equal(["enter outer", "enter gate", "exit outer"], log.Take(3));
        Assert.Empty(inner.Outcomes);
    }

    [Fact]
    public async Task Pending_entry_is_awaited_then_admits_or_its_exception_becomes_the_outcome()
    {
        var admission = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lease = new object();
        object? seenLease = null;
        var waiting = new LeaseStrategy(() => Entry.Pending(admission.Task), o => seenLease = o);
        var outer = new RecordingStrategy("outer");
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(outer).AddStrategy(waiting).Build();

        var call = pipeline.ExecuteAsync(static _ => new ValueTask<string>("done"));
        Assert.False(call.IsCompleted);
        admission.SetResult(Entry.Admit(lease));

        Assert.Equal("done", await call);
        Assert.Same(lease, seenLease);

        var failing = new LeaseStrategy(() => Entry.Pending(Task.FromException<Entry>(new OperationCanceledException())), _ => throw new InvalidOperationException("must not exit"));
        var outcome = await new ResiliencePipelineBuilder().AddStrategy(outer).AddStrategy(failing).Build()
            .ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
        Assert.IsType<OperationCanceledException>(outcome.Exception);
        Assert.True(outer.Outcomes[1].IsHandled);
    }

    [Fact]
    public async Task Strategies_read_the_clock_afresh_after_an_awaited_entry_or_fallback()
    {
        var time = new FakeTimeProvider();
        var admission = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
        var outer = new TimestampStrategy();
        var inner = new TimestampStrategy();
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddStrategy(outer).AddStrategy(new LeaseStrategy(() => Entry.Pending(admission.Task), _ => { })).AddStrategy(inner).Build();

        var call = pipeline.ExecuteAsync(static _ => new ValueTask<int>(1));
        var before = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(5));
        admission.SetResult(Entry.Admitted);
        await call;

        // The inner strategy entered after the wait: it must not see the reading the outer one made before it.
        Assert.Equal(before, outer.Entered.Single());
        Assert.Equal(time.GetTimestamp(), inner.Entered.Single());

        var served = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var fallback = new FallbackOptions<int>();
        fallback.Levels.Add(new FallbackLevel<int>("slow secondary", _ => new ValueTask<int>(served.Task)));
        var outerOfFallback = new TimestampStrategy();
        var innerOfFallback = new TimestampStrategy();
        var typed = new ResiliencePipelineBuilder<int> { TimeProvider = time }
            .AddStrategy(outerOfFallback).AddFallback(fallback).AddStrategy(innerOfFallback).Build();

        var failing = typed.ExecuteAsync(static _ => ValueTask.FromException<int>(new InvalidOperationException("down")));
        var failedAt = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(7));
        served.SetResult(42);
        Assert.Equal(42, await failing);

        // The outer strategy exits after the fallback ran: its reading is taken then, not when the inner one exited.
        Assert.Equal(failedAt, innerOfFallback.Exited.Single());
        Assert.Equal(time.GetTimestamp(), outerOfFallback.Exited.Single());
    }

    [Fact]
    public void Replaced_token_reaches_inner_strategies_and_callback_and_outer_token_is_restored()
    {
        using var caller = new CancellationTokenSource();
        using var replaced = new CancellationTokenSource();
        var outer = new RecordingStrategy("outer");
        var replacing = new RecordingStrategy("replacing") { ReplaceToken = () => replaced.Token };
        var inner = new RecordingStrategy("inner");
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(outer).AddStrategy(replacing).AddStrategy(inner).Build();

        var seen = pipeline.Execute(static ct => ct, caller.Token);

        Assert.Equal(replaced.Token, seen);
        Assert.Equal(replaced.Token, inner.TokensAtExit.Single());
        Assert.Equal(caller.Token, outer.TokensAtExit.Single());
    }

    [Fact]
    public void Fail_action_replaces_the_outcome_for_outer_strategies()
    {
        var outer = new RecordingStrategy("outer");
        var failing = new RecordingStrategy("failing") { OnExit = (_, _) => ExitAction.Fail(new TimeoutException("late")) };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(outer).AddStrategy(failing).Build();

        var outcome = pipeline.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.IsType<TimeoutException>(outcome.Exception);
        Assert.True(outer.Outcomes.Single().IsHandled);
    }

    [Fact]
    public async Task Retry_action_re_enters_inner_strategies_only_and_waits_on_the_pipeline_clock()
    {
        var time = new TimerCountingTimeProvider();
        var log = new ConcurrentQueue<string>();
        var outer = new RecordingStrategy("outer", log);
        var retry = new RecordingStrategy("retry", log) { OnExit = (o, n) => o.IsHandled && n < 3 ? ExitAction.Retry(TimeSpan.FromSeconds(1)) : ExitAction.Continue };
        var inner = new RecordingStrategy("inner", log);
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddStrategy(outer).AddStrategy(retry).AddStrategy(inner).Build();
        var attempts = 0;

        var call = pipeline.ExecuteAsync(_ => ++attempts < 3 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts)).AsTask();
        Assert.Equal(1, attempts);
        time.WaitForTimers(1);
        time.Advance(TimeSpan.FromSeconds(1));

        // The second attempt runs on a thread-pool thread: the clock moves again only once its delay is armed (a timer
        // armed after the move would start from the later time and never fire).
        time.WaitForTimers(2);
        Assert.Equal(2, attempts);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(3, await call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Single(outer.Outcomes);
        Assert.Equal(3, inner.Outcomes.Count);
        Assert.Equal(1, log.Count(l => l == "enter outer"));
        Assert.Equal(1, log.Count(l => l == "enter retry"));
        Assert.Equal(3, log.Count(l => l == "enter inner"));
    }

    [Fact]
    public void Retry_without_delay_completes_synchronously()
    {
        var retry = new RecordingStrategy("retry") { OnExit = (o, n) => o.IsHandled && n < 5 ? ExitAction.Retry(TimeSpan.Zero) : ExitAction.Continue };
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(retry).Build();
        var attempts = 0;

        var outcome = pipeline.ExecuteOutcome((_, _) => ++attempts < 4 ? throw new IOException() : attempts, 0);

        Assert.Equal(4, outcome.Result);
    }

    [Fact]
    public async Task Cancelled_retry_delay_ends_the_call_with_caller_cancellation()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        var retry = new RecordingStrategy("retry") { OnExit = (o, _) => o.IsHandled ? ExitAction.Retry(TimeSpan.FromMinutes(1)) : ExitAction.Continue };
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }.AddStrategy(retry).Build();
        using var caller = new CancellationTokenSource();

        var call = pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException()), 0, caller.Token);
        caller.Cancel();
        var outcome = await call;

        Assert.IsAssignableFrom<OperationCanceledException>(outcome.Exception);
        Assert.True(retry.Outcomes[^1].IsCallerCancelled);
    }

    [Fact]
    public async Task Fallback_action_replaces_the_outcome_with_the_strategy_fallback_which_sees_the_caller_state()
    {
        var outer = new RecordingStrategy("outer");
        var fallback = new RecordingStrategy("fallback")
        {
            OnExit = (o, _) => o.IsHandled || o.IsRejected ? ExitAction.Fallback : ExitAction.Continue,
            Fallback = state => Outcome.FromResult($"cached for {state}"),
        };
        var pipeline = new ResiliencePipelineBuilder<string>().AddStrategy(outer).AddStrategy(fallback).Build();

        var value = await pipeline.ExecuteAsync(static (_, _) => ValueTask.FromException<string>(new IOException()), "user-1");

        Assert.Equal("cached for user-1", value);
        Assert.True(outer.Outcomes.Single().IsSuccess);
    }

    [Fact]
    public void More_strategies_than_inline_slots_keep_their_own_state()
    {
        var strategies = Enumerable.Range(0, 9).Select(i => new RecordingStrategy($"s{i}")).ToArray();
        var builder = new ResiliencePipelineBuilder();
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        var pipeline = builder.Build();

        Assert.Equal(3, pipeline.Execute(static _ => 3));
        Assert.All(strategies, s => Assert.Single(s.Outcomes));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(9)]
    public async Task Each_strategy_finds_its_own_slot_on_exit_whether_the_call_completes_at_once_later_or_is_rejected(int length)
    {
        // Short and long pipelines run on differently sized inline slots, which a call that must wait moves into its
        // continuation; every path must hand each strategy back what it stored.
        var admitting = Enumerable.Range(1, length).Select(i => new SlotCheckingStrategy(i * 1000L)).ToArray();
        var builder = new ResiliencePipelineBuilder();
        foreach (var strategy in admitting)
        {
            builder.AddStrategy(strategy);
        }

        var pipeline = builder.Build();
        var rejecting = new ResiliencePipelineBuilder();
        foreach (var strategy in admitting[..^1])
        {
            rejecting.AddStrategy(strategy);
        }

        var rejectingPipeline = rejecting.AddStrategy(new SlotCheckingStrategy(-1, reject: true)).Build();
        var later = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        Assert.Equal(2, pipeline.Execute(static (s, _) => s + 1, 1));
        Assert.Equal(3, await pipeline.ExecuteAsync(static (s, _) => new ValueTask<int>(s + 1), 2));
        var pending = pipeline.ExecuteAsync(_ => new ValueTask<int>(later.Task));
        Assert.False(pending.IsCompleted);
        later.SetResult(4);
        Assert.Equal(4, await pending);
        Assert.True(rejectingPipeline.ExecuteOutcome(static (s, _) => s, 5).IsRejected);

        // The outermost strategies saw all four calls; the innermost admitting one, only the three it was part of.
        Assert.All(admitting, s => Assert.Equal(0, s.Damaged));
        Assert.All(admitting[..^1], s => Assert.Equal(4, s.Intact));
        Assert.Equal(3, admitting[^1].Intact);
    }

    [Fact]
    public void Empty_pipeline_runs_the_callback_as_it_is()
    {
        var thrown = Assert.Throws<FormatException>(() => ResiliencePipeline.Empty.Execute<int>(_ => throw new FormatException()));

        Assert.NotNull(thrown);
        Assert.Equal(4, ResiliencePipeline<int>.Empty.Execute(static _ => 4));
        Assert.Equal(5, ResiliencePipeline.Empty.ExecuteOutcome(static (s, _) => s, 5).Result);
    }

    [Fact]
    public async Task Empty_pipeline_outcome_forms_return_failures_instead_of_throwing()
    {
        var failure = new FormatException();
        var thrown = ResiliencePipeline.Empty.ExecuteOutcome<int, FormatException>(static (e, _) => throw e, failure);
        Assert.Same(failure, thrown.Exception);

        var thrownAsync = await ResiliencePipeline<int>.Empty.ExecuteOutcomeAsync<FormatException>(static (e, _) => throw e, failure);
        Assert.Same(failure, thrownAsync.Exception);

        var later = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = ResiliencePipeline.Empty.ExecuteOutcomeAsync(static (t, _) => new ValueTask<int>(t.Task), later);
        Assert.False(pending.IsCompleted);
        later.SetResult(9);
        Assert.Equal(9, (await pending).Result);

        var faultsLater = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var faulting = ResiliencePipeline.Empty.ExecuteOutcomeAsync(static (t, _) => new ValueTask<int>(t.Task), faultsLater);
        faultsLater.SetException(failure);
        Assert.Same(failure, (await faulting).Exception);
    }

    [Fact]
    public async Task Async_forms_of_an_empty_pipeline_fault_their_task_like_any_other_pipeline_instead_of_throwing()
    {
        // A pipeline rebuilt in place without strategies must not change where its callers see a failure.
        var failure = new FormatException();
        var shortPipeline = new ResiliencePipelineBuilder().AddStrategy(new RecordingStrategy("one")).Build();
        foreach (var pipeline in new[] { ResiliencePipeline.Empty, shortPipeline })
        {
            var tasks = new List<Task>
            {
                pipeline.ExecuteAsync<int, FormatException>(static (e, _) => throw e, failure).AsTask(),
                pipeline.ExecuteAsync<int>(_ => throw failure).AsTask(),
                pipeline.ExecuteAsync<FormatException>(static (e, _) => throw e, failure).AsTask(),
                pipeline.ExecuteAsync(_ => throw failure).AsTask(),
            };

            foreach (var task in tasks)
            {
                Assert.True(task.IsFaulted);
                Assert.Same(failure, await Assert.ThrowsAsync<FormatException>(() => task));
            }
        }

        var typed = new[]
        {
            ResiliencePipeline<int>.Empty.ExecuteAsync<FormatException>(static (e, _) => throw e, failure).AsTask(),
            ResiliencePipeline<int>.Empty.ExecuteAsync(_ => throw failure).AsTask(),
        };
        foreach (var task in typed)
        {
            Assert.True(task.IsFaulted);
            Assert.Same(failure, await Assert.ThrowsAsync<FormatException>(() => task));
        }
    }

    [Fact]
    public async Task Caller_cancellation_ends_the_task_cancelled_not_faulted_whether_the_call_completed_at_once_or_later()
    {
        var pipelines = new[] { new ResiliencePipelineBuilder().AddStrategy(new RecordingStrategy("one")).Build(), ResiliencePipeline.Empty };
        foreach (var pipeline in pipelines)
        {
            var later = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            // A caller per call, cancelling while its call runs (one that cancelled before would run nothing).
            using var first = new CancellationTokenSource();
            using var second = new CancellationTokenSource();
            using var third = new CancellationTokenSource();
            OperationCanceledException? thrown = null;
            Func<CancellationToken, ValueTask<int>> cancelled = ct =>
            {
                first.Cancel();
                thrown = new OperationCanceledException(ct);
                throw thrown;
            };
            Func<CancellationToken, ValueTask> cancelledLater = async ct =>
            {
                await later.Task;
                ct.ThrowIfCancellationRequested();
            };

            var atOnce = pipeline.ExecuteAsync(cancelled, first.Token).AsTask();
            var voidAtOnce = pipeline.ExecuteAsync(_ => { second.Cancel(); return ValueTask.FromCanceled(second.Token); }, second.Token).AsTask();
            var afterWaiting = pipeline.ExecuteAsync(cancelledLater, third.Token).AsTask();
            await third.CancelAsync();
            later.TrySetResult();

            // An awaiting caller sees the same exception either way; the task's status must agree with it too.
            Assert.Same(thrown, await Assert.ThrowsAnyAsync<OperationCanceledException>(() => atOnce));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => voidAtOnce);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => afterWaiting);
            Assert.Equal((true, true, true), (atOnce.IsCanceled, voidAtOnce.IsCanceled, afterWaiting.IsCanceled));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void A_successful_call_on_the_fast_path_allocates_nothing(int length)
    {
        // Every strategy admits and passes, one replaces the token: the path RunInline keeps free of allocations.
        using var replaced = new CancellationTokenSource();
        var builder = new ResiliencePipelineBuilder { Name = "hot" }.AddTelemetry(new Resilience.Telemetry.ResilienceTelemetry());
        builder.AddStrategy(new TokenReplacing(replaced.Token));
        while (builder.Strategies.Count <= length)
        {
            builder.AddStrategy(new CountingStrategy());
        }

        var pipeline = builder.Build();
        var sum = 0L;
        for (var i = 0; i < 100; i++)
        {
            sum += CallThreeWays(pipeline, i);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1_000; i++)
        {
            sum += CallThreeWays(pipeline, i);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(3 * ((99 * 100 / 2) + (999 * 1_000 / 2)), sum);
    }

    private static long CallThreeWays(ResiliencePipeline pipeline, int value)
    {
        var call = pipeline.ExecuteAsync(static (s, _) => new ValueTask<int>(s), value);
        Assert.True(call.IsCompletedSuccessfully);
        return pipeline.Execute(static (s, _) => s, value) + call.Result + pipeline.ExecuteOutcome(static (s, _) => s, value).Result;
    }

    [Fact]
    public async Task Many_threads_through_one_pipeline_each_see_their_own_call()
    {
        var counter = new CountingStrategy();
        var pipeline = new ResiliencePipelineBuilder().AddStrategy(counter).AddStrategy(new RecordingStrategy("r")).Build();
        const int Threads = 8;
        const int CallsPerThread = 5_000;
        var mismatches = 0;

        var workers = Enumerable.Range(0, Threads).Select(t => Task.Run(async () =>
        {
            for (var i = 0; i < CallsPerThread; i++)
            {
                var expected = (t * CallsPerThread) + i;
                var result = i % 2 == 0
                    ? pipeline.Execute(static (v, _) => v, expected)
                    : await pipeline.ExecuteAsync(static async (v, _) => { await Task.Yield(); return v; }, expected);
                if (result != expected)
                {
                    Interlocked.Increment(ref mismatches);
                }
            }
        }));
        await Task.WhenAll(workers);

        Assert.Equal(0, mismatches);
        Assert.Equal(Threads * CallsPerThread, counter.Entered);
        Assert.Equal(Threads * CallsPerThread, counter.Exited);
        Assert.Equal(0, counter.StateMismatches);
    }

    private sealed class TimestampStrategy : ResilienceStrategy
    {
        public List<long> Entered { get; } = [];

        public List<long> Exited { get; } = [];

        protected internal override Entry Enter(ref StrategyContext context)
        {
            Entered.Add(context.GetTimestamp());
            return Entry.Admitted;
        }

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            Exited.Add(context.GetTimestamp());
            return ExitAction.Continue;
        }
    }

    private sealed class LeaseStrategy(Func<Entry> enter, Action<object?> exit) : ResilienceStrategy
    {
        protected internal override Entry Enter(ref StrategyContext context) => enter();

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            exit(context.StateObject);
            return ExitAction.Continue;
        }
    }

    private sealed class TokenReplacing(CancellationToken token) : ResilienceStrategy
    {
        protected internal override Entry Enter(ref StrategyContext context)
        {
            context.CancellationToken = token;
            return Entry.Admitted;
        }
    }

    private sealed class CountingStrategy : ResilienceStrategy
    {
        public int Entered;
        public int Exited;
        public int StateMismatches;

        protected internal override Entry Enter(ref StrategyContext context)
        {
            context.State = Interlocked.Increment(ref Entered);
            return Entry.Admitted;
        }

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            if (context.State <= 0 || context.State > Volatile.Read(ref Entered))
            {
                Interlocked.Increment(ref StateMismatches);
            }

            Interlocked.Increment(ref Exited);
            return ExitAction.Continue;
        }
    }
}
