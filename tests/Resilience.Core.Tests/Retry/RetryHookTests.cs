using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Allocation;
using Resilience.Tests.Time;

namespace Resilience.Tests.Retry;

/// <summary>
/// <see cref="RetryOptions.OnRetry"/> is told of each retry the strategy makes, and only of those, with the numbers the
/// engine then uses; <see cref="RetryOptions.DelayGenerator"/> replaces the delay the engine waits, within its bounds.
/// The clocks record every delay the engine waits: what the hooks say is checked against what happened.
/// </summary>
public class RetryHookTests
{
    private static RetryOptions Linear(int attempts, List<RetryScheduled> told) => new()
    {
        Name = "orders-retry",
        MaxRetryAttempts = attempts,
        Backoff = RetryBackoff.Linear,
        Delay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromSeconds(1),
        UseJitter = false,
        OnRetry = told.Add,
    };

    private static ResiliencePipeline Pipeline(RetryOptions options, TimeProvider time) =>
        new ResiliencePipelineBuilder { Name = "orders", TimeProvider = time }.AddRetry(options).Build();

    private static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    [Fact]
    public void OnRetry_is_told_each_retry_with_its_number_the_delay_waited_and_the_failure_that_caused_it()
    {
        var told = new List<RetryScheduled>();
        var time = new ImmediateTimeProvider();
        var pipeline = Pipeline(Linear(3, told), time);
        var failures = new[] { new IOException("1"), new IOException("2"), new IOException("3") };
        var attempts = 0;

        var outcome = pipeline.ExecuteOutcome((_, _) => attempts < 3 ? throw failures[attempts++] : ++attempts, 0);

        Assert.Equal(4, outcome.Result);
        Assert.Equal(
            [
                new RetryScheduled("orders", "orders-retry", 1, Ms(100), failures[0]),
                new RetryScheduled("orders", "orders-retry", 2, Ms(200), failures[1]),
                new RetryScheduled("orders", "orders-retry", 3, Ms(300), failures[2]),
            ],
            told);
        Assert.Equal(told.Select(retry => retry.Delay), time.Delays);
    }

    [Fact]
    public async Task OnRetry_is_told_before_the_delay_starts()
    {
        var time = new TimerCountingTimeProvider();
        var timersWhenTold = new List<int>();
        var options = Linear(2, []);
        options.OnRetry = _ => timersWhenTold.Add(time.TimersCreated);
        var pipeline = Pipeline(options, time);
        var attempts = 0;

        var call = pipeline.ExecuteAsync(_ => ++attempts < 3 ? ValueTask.FromException<int>(new IOException()) : new ValueTask<int>(attempts)).AsTask();
        time.WaitForTimers(1);
        Assert.Equal([0], timersWhenTold);
        time.Advance(Ms(100));
        time.WaitForTimers(2);
        time.Advance(Ms(200));

        Assert.Equal(3, await call.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal([0, 1], timersWhenTold);
    }

    [Fact]
    public void A_handled_result_is_told_with_no_failure_and_a_retried_rejection_with_its_exception()
    {
        var told = new List<RetryScheduled>();
        var results = new ResiliencePipelineBuilder<int> { TimeProvider = new ImmediateTimeProvider() }
            .AddRetry(Linear(1, told), static outcome => outcome.Result < 0)
            .Build();
        var attempts = 0;

        Assert.Equal(2, results.ExecuteOutcome((_, _) => ++attempts == 1 ? -1 : attempts, 0).Result);
        var handled = Assert.Single(told);
        Assert.Null(handled.Failure);

        // The breaker opens on one failure (which the retry does not handle) and rejects every later attempt: the retry
        // retries its rejection once.
        told.Clear();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { ConsecutiveFailures = 1, TimeProvider = new FakeTimeProvider() });
        var options = Linear(1, told);
        options.RetryBrokenCircuit = true;
        var rejections = new ResiliencePipelineBuilder { TimeProvider = new ImmediateTimeProvider() }
            .AddRetry(options, static _ => false)
            .AddCircuitBreaker(breaker)
            .Build();
        Assert.IsType<IOException>(rejections.ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0).Exception);
        Assert.Empty(told);

        var outcome = rejections.ExecuteOutcome(static (_, _) => 1, 0);

        Assert.True(outcome.IsRejected);
        var rejected = Assert.Single(told);
        Assert.Equal(1, rejected.RetryNumber);
        var exception = Assert.IsType<BrokenCircuitException>(rejected.Failure);
        Assert.Equal(breaker.Name, exception.StrategyName);
    }

    [Fact]
    public void OnRetry_is_not_told_when_no_retry_is_made()
    {
        var told = new List<RetryScheduled>();
        var time = new ImmediateTimeProvider();

        // A success.
        Assert.Equal(1, Pipeline(Linear(3, told), time).Execute(static _ => 1));

        // Attempts spent: two retries told, not a third.
        var spent = Pipeline(Linear(2, told), time).ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0);
        Assert.IsType<IOException>(spent.Exception);
        Assert.Equal([1, 2], told.Select(retry => retry.RetryNumber));
        told.Clear();

        // A failure the predicate does not handle.
        var unhandled = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(Linear(3, told), static exception => exception is IOException)
            .Build()
            .ExecuteOutcome<int, int>(static (_, _) => throw new InvalidOperationException(), 0);
        Assert.IsType<InvalidOperationException>(unhandled.Exception);

        // The caller cancelled.
        using var caller = new CancellationTokenSource();
        var cancelled = Pipeline(Linear(3, told), time).ExecuteOutcome<int, CancellationTokenSource>(
            static (source, token) =>
            {
                source.Cancel();
                throw new OperationCanceledException(token);
            },
            caller,
            caller.Token);
        Assert.IsType<OperationCanceledException>(cancelled.Exception);

        // A budget at half its tokens refuses the retry.
        var budgeted = Linear(3, told);
        budgeted.Budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 1 });
        Assert.IsType<IOException>(Pipeline(budgeted, time).ExecuteOutcome<int, int>(static (_, _) => throw new IOException(), 0).Exception);

        // A retry-after hint longer than MaxRetryAfter ends the retries.
        var hinted = Pipeline(Linear(3, told), time).ExecuteOutcome<int, int>(
            static (_, _) => throw new ResilienceException("busy", null, null, TimeSpan.FromMinutes(5)), 0);
        Assert.IsType<ResilienceException>(hinted.Exception);

        Assert.Empty(told);
        Assert.Equal([Ms(100), Ms(200)], time.Delays);
    }

    [Fact]
    public void DelayGenerator_replaces_keeps_and_clamps_the_delay_and_OnRetry_sees_the_final_one()
    {
        var told = new List<RetryScheduled>();
        var asked = new List<RetryDelayArguments>();
        var time = new ImmediateTimeProvider();
        var options = Linear(4, told);
        var generated = new TimeSpan?[] { Ms(250), null, TimeSpan.FromHours(1), TimeSpan.FromSeconds(-5) };
        options.DelayGenerator = arguments =>
        {
            asked.Add(arguments);
            return generated[arguments.RetryNumber - 1];
        };
        var failures = Enumerable.Range(1, 4).Select(n => new IOException(n.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var attempts = 0;

        var outcome = Pipeline(options, time).ExecuteOutcome((_, _) => attempts < 4 ? throw failures[attempts++] : ++attempts, 0);

        Assert.Equal(5, outcome.Result);
        Assert.Equal(
            [
                new RetryDelayArguments("orders", "orders-retry", 1, failures[0], Ms(100), null),
                new RetryDelayArguments("orders", "orders-retry", 2, failures[1], Ms(200), null),
                new RetryDelayArguments("orders", "orders-retry", 3, failures[2], Ms(300), null),
                new RetryDelayArguments("orders", "orders-retry", 4, failures[3], Ms(400), null),
            ],
            asked);

        // Replaced, kept (null), clamped to MaxDelay, clamped to zero (no timer for a zero delay).
        Assert.Equal([Ms(250), Ms(200), TimeSpan.FromSeconds(1), TimeSpan.Zero], told.Select(retry => retry.Delay));
        Assert.Equal([Ms(250), Ms(200), TimeSpan.FromSeconds(1)], time.Delays);
    }

    [Fact]
    public void DelayGenerator_sees_a_retry_after_hint_and_may_wait_it_past_MaxDelay_up_to_MaxRetryAfter()
    {
        var asked = new List<RetryDelayArguments>();
        var time = new ImmediateTimeProvider();
        var options = Linear(3, []);
        options.MaxRetryAfter = TimeSpan.FromSeconds(30);

        // Retry 1 keeps the hint it was given, retry 2 asks for more than MaxRetryAfter, retry 3 waits a past hint.
        options.DelayGenerator = arguments =>
        {
            asked.Add(arguments);
            return arguments.RetryNumber == 2 ? TimeSpan.FromHours(1) : arguments.Delay;
        };
        var hints = new[] { TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(-3) };
        var attempts = 0;

        var outcome = Pipeline(options, time).ExecuteOutcome(
            (_, _) => attempts < 3 ? throw new ResilienceException("busy", null, null, hints[attempts++]) : ++attempts,
            0);

        Assert.Equal(4, outcome.Result);
        Assert.Equal(
            [(TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(7)), (TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(2)), (TimeSpan.Zero, TimeSpan.FromSeconds(-3))],
            asked.Select(arguments => (arguments.Delay, arguments.RetryAfter!.Value)));
        Assert.Equal([TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(30)], time.Delays);
    }

    [Fact]
    public void Without_a_hint_a_generated_delay_is_capped_at_MaxDelay_even_when_MaxRetryAfter_is_longer()
    {
        var time = new ImmediateTimeProvider();
        var options = Linear(1, []);
        options.MaxRetryAfter = TimeSpan.FromMinutes(1);
        options.DelayGenerator = _ => TimeSpan.FromSeconds(45);
        var attempts = 0;

        Pipeline(options, time).ExecuteOutcome((_, _) => ++attempts == 1 ? throw new IOException() : attempts, 0);

        Assert.Equal([TimeSpan.FromSeconds(1)], time.Delays);
    }

    [Fact]
    public void A_throwing_OnRetry_makes_no_retry_and_its_exception_is_the_outcome_on_the_first_retry_and_after_a_delay()
    {
        var time = new ImmediateTimeProvider();
        var hookFailure = new InvalidOperationException("hook");
        var options = Linear(3, []);
        options.OnRetry = retry =>
        {
            if (retry.RetryNumber == 2)
            {
                throw hookFailure;
            }
        };
        var attempts = 0;

        // The first retry is decided on the engine's fast path, the second after a delay: both answer a throwing hook.
        var outcome = Pipeline(options, time).ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0);

        Assert.Same(hookFailure, outcome.Exception);
        Assert.Equal(2, attempts);
        Assert.Equal([Ms(100)], time.Delays);

        options.OnRetry = _ => throw hookFailure;
        attempts = 0;
        Assert.Same(hookFailure, Pipeline(options, time).ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0).Exception);
        Assert.Equal(1, attempts);
        Assert.Equal([Ms(100)], time.Delays);
    }

    [Fact]
    public void A_throwing_DelayGenerator_makes_no_retry_and_OnRetry_is_not_told()
    {
        var told = new List<RetryScheduled>();
        var time = new ImmediateTimeProvider();
        var options = Linear(3, told);
        var generatorFailure = new InvalidOperationException("generator");
        options.DelayGenerator = _ => throw generatorFailure;
        var attempts = 0;

        var outcome = Pipeline(options, time).ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0);

        Assert.Same(generatorFailure, outcome.Exception);
        Assert.Equal(1, attempts);
        Assert.Empty(told);
        Assert.Empty(time.Delays);
    }

    [Fact]
    public void A_throwing_hook_disposes_the_handled_result_it_discards_and_strategies_outside_see_its_exception()
    {
        var hookFailure = new InvalidOperationException("hook");
        var options = Linear(3, []);
        options.OnRetry = _ => throw hookFailure;
        var seenOutside = new List<Exception>();
        var outer = new ResiliencePipelineBuilder<Response> { TimeProvider = new ImmediateTimeProvider() }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 0, OnRetry = _ => { } }, outcome => { seenOutside.Add(outcome.Exception!); return false; })
            .AddRetry(options, static outcome => outcome.Result is { Failed: true })
            .Build();
        var response = new Response(Failed: true);

        var outcome = outer.ExecuteOutcome((r, _) => r, response);

        Assert.Same(hookFailure, outcome.Exception);
        Assert.True(response.Disposed);
        Assert.Equal([hookFailure], seenOutside);
    }

    private sealed record Response(bool Failed) : IDisposable
    {
        public bool Disposed { get; private set; }

        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void Telling_the_hooks_of_a_retry_allocates_nothing()
    {
        // The hooks' arguments are values: a retry of a handled result with no delay, told to both hooks, costs no
        // allocation (an exception, which the callback itself makes, is the usual cost of a failed attempt).
        var told = 0;
        var generated = 0;
        var calls = new System.Runtime.CompilerServices.StrongBox<int>(0);
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddRetry(
                new RetryOptions
                {
                    MaxRetryAttempts = 1,
                    Delay = TimeSpan.Zero,
                    OnRetry = scheduled => told += scheduled.RetryNumber,
                    DelayGenerator = arguments =>
                    {
                        generated++;
                        return arguments.Delay;
                    },
                },
                static outcome => outcome.IsSuccess && outcome.Result < 0)
            .Build();
        var sum = 0L;
        var fewest = AllocatedBytes.FewestOfFiveRounds(() =>
        {
            for (var i = 0; i < 1_000; i++)
            {
                sum += pipeline.Execute(static (state, _) => ++state.Value % 2 == 1 ? -1 : 1, calls);
            }
        });

        Assert.Equal(0, fewest);
        Assert.Equal(5_000, sum);
        Assert.Equal((5_000, 5_000, 10_000), (told, generated, calls.Value));
    }
}
