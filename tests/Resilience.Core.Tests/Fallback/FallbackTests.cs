using Microsoft.Extensions.Time.Testing;

using Resilience.Tests.Allocation;

namespace Resilience.Tests.Fallback;

public class FallbackTests
{
    [Fact]
    public async Task Levels_are_tried_in_order_and_the_outcome_says_which_served()
    {
        var served = new List<FallbackServed>();
        var order = new List<string>();
        var options = new FallbackOptions<string>
        {
            OnServed = served.Add,
            Levels =
            {
                new FallbackLevel<string>("secondary", _ => { order.Add("secondary"); throw new IOException("secondary down"); }, tryNextOnFailure: true),
                new FallbackLevel<string>("cache", a => { order.Add("cache"); return new ValueTask<string>($"cached:{a.State}"); }),
                FallbackLevel<string>.FromValue("default", "default"),
            },
        };
        var pipeline = new ResiliencePipelineBuilder<string> { Name = "profiles" }.AddFallback(options).Build();

        var outcome = await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<string>(new IOException("primary down")), "user-7");
        var primary = await pipeline.ExecuteOutcomeAsync(static (_, _) => new ValueTask<string>("fresh"), "user-7");

        Assert.Equal("cached:user-7", outcome.Result);
        Assert.Equal(1, outcome.FallbackLevel);
        Assert.True(outcome.IsSuccess);
        Assert.Equal(["secondary", "cache"], order);
        Assert.Equal(("profiles", "cache", 1), (served.Single().PipelineName, served.Single().LevelName, served.Single().Level));
        Assert.Equal("primary down", served.Single().Failure!.Message);
        Assert.Null(primary.FallbackLevel);
    }

    [Fact]
    public async Task A_failing_level_surfaces_as_itself_with_the_original_failure_attached()
    {
        var original = new IOException("primary down");
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { new FallbackLevel<int>("buggy", _ => throw new NullReferenceException("bug")) } })
            .Build();

        var error = await Assert.ThrowsAsync<NullReferenceException>(() => pipeline.ExecuteAsync(_ => ValueTask.FromException<int>(original)).AsTask());

        Assert.Equal("bug", error.Message);
        Assert.Same(original, error.Data[FallbackStrategy<int>.OriginalFailureKey]);
    }

    [Fact]
    public async Task A_level_that_rethrows_the_original_failure_surfaces_it_without_attaching_it_to_itself()
    {
        var original = new IOException("primary down");
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { new FallbackLevel<int>("cache-or-rethrow", a => throw a.Failure.Exception!) } })
            .Build();

        var error = await Assert.ThrowsAsync<IOException>(() => pipeline.ExecuteAsync(_ => ValueTask.FromException<int>(original)).AsTask());

        // Attached to itself, the failure was a cycle in its own data.
        Assert.Same(original, error);
        Assert.False(error.Data.Contains(FallbackStrategy<int>.OriginalFailureKey));
    }

    [Fact]
    public async Task Rejections_and_timeouts_are_replaced_but_caller_cancellation_never_is()
    {
        var time = new FakeTimeProvider();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { TimeProvider = time });
        breaker.Isolate();
        var pipeline = new ResiliencePipelineBuilder<int> { TimeProvider = time }
            .AddFallback(-1)
            .AddCircuitBreaker(breaker)
            .Build();
        var timed = new ResiliencePipelineBuilder<int> { TimeProvider = time }.AddFallback(-2).AddTimeout(TimeSpan.FromSeconds(1)).Build();
        using var caller = new CancellationTokenSource();
        caller.Cancel();

        Assert.Equal(-1, pipeline.Execute(static _ => 1));
        var slow = timed.ExecuteAsync(static async ct => { await Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct); return 1; }).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(-2, await slow);
        var cancelled = await timed.ExecuteOutcomeAsync(static (_, ct) => ValueTask.FromCanceled<int>(ct), 0, caller.Token);
        Assert.IsAssignableFrom<OperationCanceledException>(cancelled.Exception);
    }

    [Fact]
    public async Task No_level_runs_once_the_caller_has_cancelled_even_for_a_failure_other_than_the_cancellation()
    {
        var levels = 0;
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromFactory("secondary", _ => ++levels) } })
            .Build();
        using var caller = new CancellationTokenSource();

        // A call cut short by its caller can end with another exception than the cancellation: an aborted connection.
        var outcome = await pipeline.ExecuteOutcomeAsync(
            static (caller, ct) =>
            {
                caller.Cancel();
                return ct.IsCancellationRequested ? ValueTask.FromException<int>(new IOException("connection aborted")) : new ValueTask<int>(1);
            },
            caller,
            caller.Token);

        Assert.IsType<IOException>(outcome.Exception);
        Assert.Null(outcome.FallbackLevel);
        Assert.Equal(0, levels);
    }

    [Fact]
    public async Task The_chain_stops_when_the_caller_cancels_while_a_level_runs_whatever_that_level_fails_with()
    {
        using var caller = new CancellationTokenSource();
        var later = 0;
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int>
            {
                Levels =
                {
                    // The caller gives up while the secondary runs; it ends with its own error, not the cancellation.
                    new FallbackLevel<int>("secondary", _ => { caller.Cancel(); throw new IOException("secondary aborted"); }, tryNextOnFailure: true),
                    FallbackLevel<int>.FromFactory("default", _ => ++later),
                },
            })
            .Build();

        var outcome = await pipeline.ExecuteOutcomeAsync(static (_, _) => ValueTask.FromException<int>(new IOException("primary down")), 0, caller.Token);

        Assert.Equal("secondary aborted", Assert.IsType<IOException>(outcome.Exception).Message);
        Assert.Equal(0, later);
    }

    [Fact]
    public void Typed_predicate_decides_which_results_are_replaced()
    {
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { FallbackLevel<int>.FromFactory("degraded", a => a.Failure.Result + 1000) } }, static o => o.Result >= 500)
            .Build();

        Assert.Equal(200, pipeline.Execute(static _ => 200));
        Assert.Equal(1503, pipeline.Execute(static _ => 503));
    }

    [Fact]
    public void Last_known_good_serves_the_latest_success_per_key_while_young_enough()
    {
        var time = new FakeTimeProvider();
        var lastGood = new LastKnownGood<string, string>(TimeSpan.FromMinutes(1), timeProvider: time);
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string> { Levels = { lastGood.AsLevel(state => (string)state!), FallbackLevel<string>.FromValue("default", "none") } })
            .Build();
        var healthy = true;
        string Get(string key) => pipeline.Execute((k, _) => healthy ? $"{k}@{time.GetUtcNow():mm:ss}" : throw new IOException(), key);

        var a = Get("a");
        time.Advance(TimeSpan.FromSeconds(30));
        Get("b");
        healthy = false;

        Assert.Equal(a, Get("a"));
        Assert.Equal("none", Get("c"));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal("none", Get("a"));
        Assert.NotEqual("none", Get("b"));
        Assert.Equal(2, lastGood.Count);
    }

    [Fact]
    public void Last_known_good_evicts_the_oldest_keys_past_its_capacity()
    {
        var time = new FakeTimeProvider();
        var lastGood = new LastKnownGood<int, int>(TimeSpan.FromHours(1), capacity: 100, timeProvider: time);

        for (var key = 0; key < 1_000; key++)
        {
            lastGood.Record(key, key);
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        Assert.InRange(lastGood.Count, 1, 100);
        Assert.True(lastGood.TryGet(999, out var newest));
        Assert.Equal(999, newest);
        Assert.False(lastGood.TryGet(0, out _));
    }

    [Fact]
    public void Options_without_levels_are_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => new FallbackStrategy<int>(new FallbackOptions<int>()));

        Assert.Contains("FallbackOptions.Levels must hold at least one level", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_throwing_served_handler_surfaces_without_moving_the_chain_on_to_another_level()
    {
        var served = new List<string>();
        var pipeline = new ResiliencePipelineBuilder<string>()
            .AddFallback(new FallbackOptions<string>
            {
                OnServed = s => { served.Add(s.LevelName); throw new InvalidOperationException("handler bug"); },
                Levels =
                {
                    new FallbackLevel<string>("secondary", _ => new ValueTask<string>("secondary"), tryNextOnFailure: true),
                    FallbackLevel<string>.FromValue("default", "default"),
                },
            })
            .Build();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.ExecuteAsync(static _ => ValueTask.FromException<string>(new IOException())).AsTask());

        Assert.Equal("handler bug", error.Message);
        Assert.Equal(["secondary"], served);
    }

    [Fact]
    public void A_fallback_in_a_pipeline_of_another_result_type_never_records_a_result_as_its_own_type()
    {
        var lastGood = new LastKnownGood<string, string>(TimeSpan.FromHours(1), timeProvider: new FakeTimeProvider());
        var pipeline = new ResiliencePipelineBuilder()
            .AddStrategy(new FallbackStrategy<string>(new FallbackOptions<string> { Levels = { lastGood.AsLevel(static _ => "key") } }))
            .Build();

        // A long is not a string: recording it would store its bits as a reference (zero here, so the test stays safe).
        Assert.Equal(0L, pipeline.Execute(static _ => 0L));

        Assert.Equal(0, lastGood.Count);
        Assert.False(lastGood.TryGet("key", out _));
    }

    [Fact]
    public void A_fallback_serving_every_call_of_a_breaker_held_open_allocates_nothing_and_tells_the_rejection()
    {
        // The degraded steady state: the circuit refuses each call as a value, and the fallback replaces it. Neither
        // the rejection's exception nor the hook's argument is made per call, in the synchronous form as in the others.
        // A level that serves a fixed value never reads the caller's state, so a value-type state is not boxed for it.
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions());
        breaker.Isolate();
        FallbackServed last = default;
        var told = 0;
        var pipeline = new ResiliencePipelineBuilder<int> { Name = "catalog" }
            .AddFallback(new FallbackOptions<int>
            {
                Levels = { FallbackLevel<int>.FromValue("placeholder", -1) },
                OnServed = served =>
                {
                    last = served;
                    told++;
                },
            })
            .AddCircuitBreaker(breaker)
            .Build();
        var sum = 0L;
        var fewest = AllocatedBytes.FewestOfFiveRounds(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                sum += pipeline.Execute(static (_, _) => 1, i);
                sum += pipeline.ExecuteOutcome(static (_, _) => 1, i).Result;
                sum += Completed(pipeline.ExecuteAsync(static (_, _) => new ValueTask<int>(1), i));
            }
        });

        Assert.Equal(0, fewest);
        Assert.Equal(-15_000, sum);
        Assert.Equal(15_000, told);
        Assert.Equal(("catalog", 0, "placeholder"), (last.PipelineName, last.Level, last.LevelName));
        Assert.IsType<CircuitBreakerStrategy>(last.Rejection.Strategy);
        Assert.Equal(RejectionReason.IsolatedCircuit, last.Rejection.Reason);

        // The exception is made when read, a new one each time.
        Assert.IsType<IsolatedCircuitException>(last.Failure);
        Assert.NotSame(last.Failure, last.Failure);
    }

    [Fact]
    public async Task A_rejection_attached_to_failing_levels_is_one_exception_and_the_one_told_when_a_later_level_serves()
    {
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions());
        breaker.Isolate();
        var failures = new List<Exception>();
        FallbackServed served = default;
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int>
            {
                Levels =
                {
                    new FallbackLevel<int>("secondary", _ => throw Recorded(new IOException("secondary down")), tryNextOnFailure: true),
                    new FallbackLevel<int>("replica", _ => throw Recorded(new IOException("replica down")), tryNextOnFailure: true),
                    FallbackLevel<int>.FromValue("placeholder", -1),
                },
                OnServed = s => served = s,
            })
            .AddCircuitBreaker(breaker)
            .Build();

        Assert.Equal(-1, await pipeline.ExecuteAsync(static (_, _) => new ValueTask<int>(1), 0));

        var attached = failures.Select(f => f.Data[FallbackStrategy<int>.OriginalFailureKey]).ToArray();
        Assert.IsType<IsolatedCircuitException>(attached[0]);
        Assert.Same(attached[0], attached[1]);
        Assert.Same(attached[0], served.Failure);
        Assert.Equal(RejectionReason.IsolatedCircuit, served.Rejection.Reason);

        Exception Recorded(Exception failure)
        {
            failures.Add(failure);
            return failure;
        }
    }

    [Fact]
    public async Task A_fallback_that_waits_or_fails_replacing_a_rejection_ends_the_call_as_any_fallback_does()
    {
        // The outermost fallback of a rejection is started where the rejection is handled; one that waits is then
        // handed to the interpreter, one that fails is the call's outcome, in every form.
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions());
        breaker.Isolate();
        var served = new List<string>();
        ResiliencePipeline<int> Pipeline(FallbackLevel<int> level) => new ResiliencePipelineBuilder<int>()
            .AddFallback(new FallbackOptions<int> { Levels = { level }, OnServed = s => served.Add(s.LevelName) })
            .AddCircuitBreaker(breaker)
            .Build();
        var waiting = Pipeline(new FallbackLevel<int>("later", static async _ =>
        {
            await Task.Yield();
            return 7;
        }));
        var failing = Pipeline(new FallbackLevel<int>("broken", static _ => throw new InvalidOperationException("level bug")));
        var failingLater = Pipeline(new FallbackLevel<int>("broken-later", static async _ =>
        {
            await Task.Yield();
            throw new InvalidOperationException("level bug, later");
        }));

        Assert.Equal(7, await waiting.ExecuteAsync(static (_, _) => new ValueTask<int>(1), 0));
        Assert.Equal(7, waiting.Execute(static (_, _) => 1, 0));
        var outcome = await waiting.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0);
        Assert.Equal((7, 0), (outcome.Result, outcome.FallbackLevel));
        Assert.Equal(["later", "later", "later"], served);

        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => failing.ExecuteAsync(static (_, _) => new ValueTask<int>(1), 0).AsTask());
        Assert.IsType<IsolatedCircuitException>(thrown.Data[FallbackStrategy<int>.OriginalFailureKey]);
        Assert.Equal("level bug", Assert.Throws<InvalidOperationException>(() => failing.Execute(static (_, _) => 1, 0)).Message);
        Assert.Equal("level bug, later", (await failingLater.ExecuteOutcomeAsync(static (_, _) => new ValueTask<int>(1), 0)).Exception!.Message);
        Assert.Equal("level bug, later", Assert.Throws<InvalidOperationException>(() => failingLater.Execute(static (_, _) => 1, 0)).Message);
        Assert.Equal(3, served.Count);
    }

    /// <summary>The result of a call that completed without waiting (the degraded path never waits).</summary>
    private static int Completed(ValueTask<int> call)
    {
        Assert.True(call.IsCompletedSuccessfully);
        return call.Result;
    }
}
