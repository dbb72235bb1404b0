namespace Resilience.Tests.Pipeline;

/// <summary>A strategy whose hook throws: the exception is the outcome, and every strategy entered exits exactly once.</summary>
public class HookFailureTests
{
    // Pipelines on the pair of inline slots, on the buffer of six, and longer than both (the general path), with the
    // throwing strategy outermost, in the middle and innermost.
    public static TheoryData<int, int, bool> Depths()
    {
        var data = new TheoryData<int, int, bool>();
        foreach (var length in new[] { 2, 4, 8 })
        {
            foreach (var at in new[] { 0, length / 2, length - 1 }.Distinct())
            {
                data.Add(length, at, false);
                if (at > 0)
                {
                    data.Add(length, at, true);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public async Task Enter_that_throws_is_the_outcome_and_the_strategies_outside_exit_once_with_their_tokens(int length, int at, bool afterAwait)
    {
        var failure = new InvalidOperationException("enter failed");
        var (pipeline, strategies) = Build(length);
        strategies[at].ThrowOnEnter = failure;
        var admission = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (afterAwait)
        {
            // The outermost strategy's admission is awaited: the throwing one is entered after the await.
            strategies[0].Pending = () => admission.Task;
        }

        var calls = 0;
        var call = pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(++calls), 0);
        admission.SetResult(Entry.Admitted);
        var outcome = await call;

        Assert.Same(failure, outcome.Exception);
        Assert.Equal(0, calls);
        Assert.All(strategies[..at], s =>
        {
            Assert.Equal(1, s.Exited);
            Assert.Same(failure, Assert.Single(s.Outcomes).Exception);
            Assert.True(s.Outcomes[0].IsHandled);
            Assert.Equal(0, s.Mismatches);
        });
        Assert.Equal(0, strategies[at].Exited);
        Assert.All(strategies[(at + 1)..], s => Assert.Equal(0, s.Entered));
        Assert.Same(failure, Assert.Throws<InvalidOperationException>(() => pipeline.Execute(static _ => 1)));
    }

    [Theory]
    [MemberData(nameof(Depths))]
    public async Task Exit_that_throws_replaces_the_outcome_and_the_strategies_outside_exit_once_with_their_tokens(int length, int at, bool afterAwait)
    {
        var failure = new InvalidOperationException("exit failed");
        var (pipeline, strategies) = Build(length);
        strategies[at].ThrowOnExit = failure;
        var later = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        CancellationToken seen = default;

        var call = pipeline.ExecuteOutcomeAsync((_, ct) => { seen = ct; return afterAwait ? new ValueTask<int>(later.Task) : new ValueTask<int>(1); }, 0);
        later.SetResult(1);
        var outcome = await call;

        Assert.Same(failure, outcome.Exception);
        Assert.Equal(strategies[^1].Token, seen);
        Assert.All(strategies, s => Assert.Equal((1, 1, 0), (s.Entered, s.Exited, s.Mismatches)));
        Assert.All(strategies[at..], s => Assert.True(s.Outcomes[0].IsSuccess));
        Assert.All(strategies[..at], s => Assert.Same(failure, s.Outcomes[0].Exception));
        Assert.Same(failure, await Assert.ThrowsAsync<InvalidOperationException>(() => pipeline.ExecuteAsync(static _ => new ValueTask<int>(1)).AsTask()));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    public void Exit_that_throws_on_an_inner_rejection_replaces_it_and_the_strategies_outside_exit_once(int length)
    {
        var failure = new InvalidOperationException("exit failed");
        var (pipeline, strategies) = Build(length);
        strategies[1].ThrowOnExit = failure;
        var rejecting = new RecordingStrategy("gate") { OnEnter = () => Entry.Reject(RejectionReason.Custom) };
        var builder = new ResiliencePipelineBuilder();
        foreach (var strategy in strategies[..2])
        {
            builder.AddStrategy(strategy);
        }

        var outcome = builder.AddStrategy(rejecting).Build().ExecuteOutcome(static (_, _) => 1, 0);

        Assert.Same(failure, outcome.Exception);
        Assert.True(strategies[1].Outcomes[0].IsRejected);
        Assert.Equal((1, 0), (strategies[0].Exited, strategies[0].Mismatches));
        Assert.Same(failure, strategies[0].Outcomes[0].Exception);
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(4, false)]
    [InlineData(8, false)]
    [InlineData(8, true)]
    public async Task ObserveResult_that_throws_replaces_the_outcome_and_its_strategy_still_exits_on_it(int length, bool afterAwait)
    {
        // Exit runs once for every admitting Enter: a strategy that releases something there (a permit) must not lose
        // its exit because its look at the result threw. It exits as on a throwing predicate: on the exception, unhandled.
        var observer = new ThrowingObserver();
        var others = Enumerable.Range(0, length - 1).Select(i => new HookStrategy($"s{i}")).ToArray();
        var builder = new ResiliencePipelineBuilder().AddStrategy(others[0]).AddStrategy(observer);
        foreach (var inner in others.Skip(1))
        {
            builder.AddStrategy(inner);
        }

        var pipeline = builder.Build();

        var outcome = await pipeline.ExecuteOutcomeAsync(
            static async (afterAwait, _) =>
            {
                if (afterAwait)
                {
                    await Task.Yield();
                }

                return 1;
            },
            afterAwait);

        Assert.IsType<FormatException>(outcome.Exception);
        Assert.Equal(1, observer.Exited);
        Assert.Same(outcome.Exception, observer.Seen!.Value.Exception);
        Assert.False(observer.Seen.Value.IsHandled);
        Assert.All(others, s => Assert.Equal((1, 1, 0), (s.Entered, s.Exited, s.Mismatches)));
        Assert.Same(outcome.Exception, others[0].Outcomes[0].Exception);
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(3, true)]
    [InlineData(8, false)]
    [InlineData(8, true)]
    public async Task Predicate_that_throws_replaces_the_outcome_and_its_strategy_and_the_outer_ones_still_exit(int length, bool afterAwait)
    {
        // A common slip: a result predicate that reads the result of a call that threw.
        var strategies = Enumerable.Range(0, length).Select(i => new HookStrategy($"s{i}")).ToArray();
        var builder = new ResiliencePipelineBuilder<string>();
        for (var i = 0; i < length; i++)
        {
            if (i == 1)
            {
                builder.AddStrategy(strategies[i], static o => o.Result!.Length > 3);
            }
            else
            {
                builder.AddStrategy(strategies[i]);
            }
        }

        var pipeline = builder.Build();
        var later = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var call = pipeline.ExecuteOutcomeAsync((_, _) => afterAwait ? new ValueTask<string>(later.Task) : ValueTask.FromException<string>(new IOException()), 0);
        later.SetException(new IOException());
        var outcome = await call;

        Assert.IsType<NullReferenceException>(outcome.Exception);
        Assert.All(strategies, s => Assert.Equal((1, 1, 0), (s.Entered, s.Exited, s.Mismatches)));
        Assert.IsType<NullReferenceException>(strategies[1].Outcomes[0].Exception);
        Assert.False(strategies[1].Outcomes[0].IsHandled);
        Assert.IsType<NullReferenceException>(strategies[0].Outcomes[0].Exception);
        Assert.True(strategies[0].Outcomes[0].IsHandled);
    }

    [Fact]
    public void Retry_after_reader_that_throws_replaces_the_outcome_and_every_strategy_exits()
    {
        var outer = new HookStrategy("outer");
        var inner = new HookStrategy("inner");
        var pipeline = new ResiliencePipelineBuilder { RetryAfterHint = static _ => throw new FormatException() }
            .AddStrategy(outer).AddStrategy(inner).Build();

        var outcome = pipeline.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);

        Assert.IsType<FormatException>(outcome.Exception);
        Assert.Equal((1, 1), (outer.Exited, inner.Exited));
        Assert.IsType<FormatException>(inner.Outcomes[0].Exception);
    }

    [Fact]
    public void Retry_asking_for_a_longer_delay_than_a_timer_can_wait_fails_its_exit_instead_of_escaping_the_pipeline()
    {
        // Timers wait at most 2^32 - 2 ms (about 49.7 days); a longer delay cannot be scheduled.
        var outer = new HookStrategy("outer");
        var retry = new RecordingStrategy("retry") { OnExit = (o, _) => o.IsHandled ? ExitAction.Retry(TimeSpan.FromDays(60)) : ExitAction.Continue };
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = new Microsoft.Extensions.Time.Testing.FakeTimeProvider() }
            .AddStrategy(outer).AddStrategy(retry).Build();
        var attempts = 0;

        var outcome = pipeline.ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0);

        Assert.IsType<ArgumentOutOfRangeException>(outcome.Exception);
        Assert.Equal(1, attempts);
        Assert.Equal((1, 0), (outer.Exited, outer.Mismatches));
        Assert.Single(retry.Outcomes);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(8)]
    public void A_token_set_during_exit_does_not_leak_to_the_strategies_outside(int length)
    {
        using var caller = new CancellationTokenSource();
        using var other = new CancellationTokenSource();
        var outer = new RecordingStrategy("outer");
        var setter = new TokenSettingExit(other.Token);
        var builder = new ResiliencePipelineBuilder().AddStrategy(outer).AddStrategy(setter);
        while (builder.Strategies.Count < length)
        {
            builder.AddStrategy(new RecordingStrategy("pad"));
        }

        builder.Build().Execute(static _ => 1, caller.Token);

        // Short pipelines run on the fast path, long ones on the general interpreter: both restore the token.
        Assert.Equal(caller.Token, outer.TokensAtExit.Single());
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(2, true)]
    [InlineData(8, false)]
    [InlineData(8, true)]
    public async Task A_result_replaced_by_a_throwing_exit_or_predicate_is_disposed_once(int length, bool predicateThrows)
    {
        // The result never reaches the caller (an HTTP response would hold its connection), on the fast path (short
        // pipelines) and on the general interpreter (long ones), whether the exit or the predicate judging it throws.
        var strategies = Enumerable.Range(0, length).Select(i => new HookStrategy($"s{i}")).ToArray();
        var failure = new InvalidOperationException("hook failed");
        var builder = new ResiliencePipelineBuilder<Resource>();
        for (var i = 0; i < length; i++)
        {
            if (i == 1 && predicateThrows)
            {
                builder.AddStrategy(strategies[i], _ => throw failure);
            }
            else
            {
                builder.AddStrategy(strategies[i]);
            }
        }

        if (!predicateThrows)
        {
            strategies[1].ThrowOnExit = failure;
        }

        var pipeline = builder.Build();
        var resource = new Resource();

        var outcome = await pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<Resource>(resource), 0);

        Assert.Same(failure, outcome.Exception);
        Assert.Equal(1, resource.Disposals);
        Assert.All(strategies, s => Assert.Equal((1, 1, 0), (s.Entered, s.Exited, s.Mismatches)));
    }

    private static (ResiliencePipeline Pipeline, HookStrategy[] Strategies) Build(int length)
    {
        var strategies = Enumerable.Range(0, length).Select(i => new HookStrategy($"s{i}")).ToArray();
        var builder = new ResiliencePipelineBuilder();
        foreach (var strategy in strategies)
        {
            builder.AddStrategy(strategy);
        }

        return (builder.Build(), strategies);
    }

    private sealed class ThrowingObserver : ResilienceStrategy
    {
        public ThrowingObserver()
        {
            ObservesResults = true;
        }

        public int Exited { get; private set; }

        public ExitOutcome? Seen { get; private set; }

        protected internal override void ObserveResult<TResult, TState>(TResult result, TState state) => throw new FormatException();

        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            Exited++;
            Seen = outcome;
            return ExitAction.Continue;
        }
    }

    private sealed class TokenSettingExit(CancellationToken token) : ResilienceStrategy
    {
        protected internal override ExitAction Exit(ref StrategyContext context, in ExitOutcome outcome)
        {
            context.CancellationToken = token;
            return ExitAction.Continue;
        }
    }

    private sealed class Resource : IDisposable
    {
        public int Disposals { get; private set; }

        public void Dispose() => Disposals++;
    }
}
