using Microsoft.Extensions.Time.Testing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Resilience.Tests.Retry;

public class RetryBudgetTests
{
    /// <summary>
    /// For any sequence of successes and failures, the budget's balance follows gRFC A6 exactly (failure −1, success
    /// +ratio, within [0, max]) and a retry is allowed exactly when the balance is above half the maximum.
    /// </summary>
    [Property(MaxTest = 500, Replay = "(271828183,314159265)")]
    public Property Balance_and_permission_follow_the_formula(PositiveInt maxSeed, PositiveInt ratioSeed, bool[] outcomes)
    {
        var max = 1 + (maxSeed.Get % 100);
        var ratio = (1 + (ratioSeed.Get % 1000)) / 1000.0;
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = max, TokenRatio = ratio });
        double model = max;
        var permitted = 0;
        var modelPermitted = 0;

        foreach (var success in outcomes)
        {
            if (success)
            {
                budget.RecordSuccess();
                model = Math.Min(max, model + ratio);
            }
            else if (permitted % 2 == 0)
            {
                budget.RecordFailure();
                model = Math.Max(0, model - 1);
            }
            else
            {
                // The retry strategy's form: the failure's own change decides whether it may be retried.
                var allowed = budget.RecordFailureAndCanRetry();
                model = Math.Max(0, model - 1);
                if (allowed != model > max / 2.0 + 1e-9)
                {
                    return false.Label($"failure leaving {model} decided {allowed}");
                }
            }

            permitted += budget.CanRetry ? 1 : 0;
            modelPermitted += model > max / 2.0 + 1e-9 ? 1 : 0;
            if (Math.Abs(budget.Balance - model) > 1e-6)
            {
                return false.Label($"balance {budget.Balance} vs {model}");
            }
        }

        return (permitted == modelPermitted).Label($"{permitted} retries allowed vs {modelPermitted}");
    }

    [Theory]
    [InlineData(1, 0.001)]
    [InlineData(1, 1)]
    [InlineData(1000, 0.001)]
    [InlineData(1000, 1)]
    public void A_budget_at_the_ends_of_its_ranges_keeps_its_balance_exact_over_millions_of_attempts(int maxTokens, double ratio)
    {
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = maxTokens, TokenRatio = ratio });
        var random = new Random(maxTokens);
        long model = maxTokens * 1000L;
        var step = (long)Math.Round(ratio * 1000);
        for (var i = 0; i < 2_000_000; i++)
        {
            // Runs of failures and of successes long enough to reach both ends of the balance.
            var failure = (i / 5000 % 2 == 0) ^ (random.Next(10) == 0);
            if (failure)
            {
                var allowed = budget.RecordFailureAndCanRetry();
                model = Math.Max(0, model - 1000);
                Assert.Equal(model > maxTokens * 500L, allowed);
            }
            else
            {
                budget.RecordSuccess();
                model = Math.Min(maxTokens * 1000L, model + step);
            }
        }

        Assert.Equal(model / 1000.0, budget.Balance);
        Assert.Equal(model > maxTokens * 500L, budget.CanRetry);
    }

    [Fact]
    public void A_failing_dependency_gets_a_bounded_number_of_retries_from_many_calls()
    {
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.1 });
        var pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryOptions { MaxRetryAttempts = 3, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, Budget = budget })
            .Build();
        var attempts = 0;

        for (var call = 0; call < 100; call++)
        {
            pipeline.ExecuteOutcome<int, int>((_, _) => { attempts++; throw new IOException(); }, 0);
        }

        // Without a budget: 400 attempts. With it: the first call fails 4 times (10 -> 6 tokens, 3 retries), the second
        // once (-> 5 tokens, no longer above half), and no call retries after that.
        Assert.Equal(100 + 3, attempts);
        Assert.False(budget.CanRetry);
    }

    [Fact]
    public void A_ratio_below_a_thousandth_is_refused_instead_of_a_budget_that_never_refills()
    {
        // The balance is kept in thousandths: 0.0004 was taken, stored as 0, and no success gave anything back.
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new RetryBudget(new RetryBudgetOptions { TokenRatio = 0.0004 }));
        Assert.Contains("RetryBudgetOptions.TokenRatio must be in [0.001, 1]; was 0.0004.", error.Message, StringComparison.Ordinal);

        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 2, TokenRatio = 0.001 });
        Assert.Throws<ArgumentOutOfRangeException>(() => budget.UpdateOptions(new RetryBudgetOptions { MaxTokens = 2, TokenRatio = 0.0004 }));
        budget.RecordFailure();
        budget.RecordSuccess();
        Assert.Equal(1.001, budget.Balance, 9);
    }

    [Fact]
    public void Validation_names_the_option_and_update_keeps_the_balance()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => new RetryBudget(new RetryBudgetOptions { TokenRatio = 0 }));
        Assert.Contains("RetryBudgetOptions.TokenRatio must be in [0.001, 1]; was 0.", error.Message, StringComparison.Ordinal);

        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10 });
        budget.RecordFailure();
        budget.UpdateOptions(new RetryBudgetOptions { MaxTokens = 20, TokenRatio = 0.5 });
        Assert.Equal(9, budget.Balance);
        budget.UpdateOptions(new RetryBudgetOptions { MaxTokens = 4 });
        Assert.Equal(4, budget.Balance);
    }

    [Fact]
    public async Task An_outer_timeout_cutting_short_the_wait_between_attempts_takes_no_second_token()
    {
        var time = new FakeTimeProvider();
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10 });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddTimeout(new TimeoutOptions { Timeout = TimeSpan.FromSeconds(1), TimeProvider = time })
            .AddRetry(new RetryOptions { Delay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromSeconds(10), UseJitter = false, Budget = budget })
            .Build();
        var attempts = 0;

        var call = pipeline.ExecuteOutcomeAsync((_, _) => { attempts++; return ValueTask.FromException<int>(new IOException()); }, 0).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        var outcome = await call;

        Assert.IsType<TimeoutRejectedException>(outcome.Exception);
        Assert.Equal(1, attempts);
        Assert.Equal(9, budget.Balance);
    }

    [Fact]
    public async Task A_success_that_comes_back_after_the_caller_cancelled_gives_its_ratio_back_as_the_breaker_counts_it()
    {
        // The callback ignores its token and returns a value after its caller cancelled: the dependency succeeded, and
        // the caller gets the value. The breaker counts the success; the budget, shared with the same dependency's
        // failures, must credit it too, or impatient callers drain it of every success they would have given back.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.5 });
        budget.RecordFailure();
        var breaker = new Resilience.CircuitBreaker(new CircuitBreakerOptions { MinimumThroughput = 1, FailureRatio = 1 });
        var pipeline = new ResiliencePipelineBuilder<int>()
            .AddRetry(new RetryOptions { Delay = TimeSpan.Zero, UseJitter = false, Budget = budget })
            .AddCircuitBreaker(breaker)
            .Build();
        using var caller = new CancellationTokenSource();
        var reply = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        var call = pipeline.ExecuteOutcomeAsync((_, _) => new ValueTask<int>(reply.Task), 0, caller.Token).AsTask();
        await caller.CancelAsync();
        reply.SetResult(42);
        var outcome = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(outcome.IsSuccess);
        Assert.Equal(42, outcome.Result);
        Assert.Equal(1, breaker.GetSnapshot().Calls);
        Assert.Equal(9.5, budget.Balance);
    }
}
