namespace Resilience.Tests.Retry;

/// <summary>Real threads recording on one budget, and retrying through it: its balance is exact and stays in range.</summary>
public class RetryBudgetConcurrencyTests
{
    private const int Threads = 4;

    [Fact]
    public void Concurrent_successes_and_failures_lose_no_change_and_the_balance_never_leaves_its_range()
    {
        // Half-full with a ratio of one: no thread's sequence can reach 0 or the capacity, so no change is clamped and
        // the final balance is the exact sum whatever the interleaving.
        const int OpsPerThread = 20_000;
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 1000, TokenRatio = 1 });
        for (var i = 0; i < 500; i++)
        {
            budget.RecordFailure();
        }

        var stop = 0;
        var outOfRange = 0;
        var sampler = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                var balance = budget.Balance;
                if (balance < 0 || balance > 1000)
                {
                    Interlocked.Increment(ref outOfRange);
                }
            }
        });
        sampler.Start();
        var expected = 500.0;
        var recorders = Enumerable.Range(0, Threads).Select(t =>
        {
            var random = new Random(t);
            var script = Enumerable.Range(0, OpsPerThread).Select(i => i % 2 == 0 ? random.Next(2) == 0 : false).ToArray();

            // Each pair is a success and a failure in a random order: a thread never strays more than one token.
            for (var i = 0; i < script.Length; i += 2)
            {
                script[i + 1] = !script[i];
            }

            return new Thread(() =>
            {
                foreach (var success in script)
                {
                    if (success)
                    {
                        budget.RecordSuccess();
                    }
                    else
                    {
                        budget.RecordFailure();
                    }
                }
            });
        }).ToList();

        recorders.ForEach(r => r.Start());
        Assert.All(recorders, r => Assert.True(r.Join(TimeSpan.FromMinutes(1))));
        Volatile.Write(ref stop, 1);
        Assert.True(sampler.Join(TimeSpan.FromMinutes(1)));

        Assert.Equal(0, outOfRange);
        Assert.Equal(expected, budget.Balance);
    }

    [Fact]
    public async Task Concurrent_failing_calls_through_a_shared_budget_get_no_more_retries_than_it_holds()
    {
        // Nothing succeeds: the budget starts full and only falls. However the threads interleave, the failures that
        // leave more than half of it are the first four (9, 8, 7 and 6 tokens left of 10): at most 4 retries, and every
        // failure, first attempt or retry, takes its token.
        var budget = new RetryBudget(new RetryBudgetOptions { MaxTokens = 10, TokenRatio = 0.1 });
        var pipeline = new ResiliencePipelineBuilder { TimeProvider = new ImmediateTimeProvider() }
            .AddRetry(new RetryOptions { MaxRetryAttempts = 5, Delay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, Budget = budget })
            .Build();
        var attempts = 0;

        async Task Caller()
        {
            for (var i = 0; i < 50; i++)
            {
                await pipeline.ExecuteOutcomeAsync<int, int>(
                    async (_, _) =>
                    {
                        Interlocked.Increment(ref attempts);
                        await Task.Yield();
                        throw new IOException();
                    },
                    0);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Threads).Select(_ => Task.Run(Caller))).WaitAsync(TimeSpan.FromMinutes(1));

        var retries = Volatile.Read(ref attempts) - (Threads * 50);
        Assert.InRange(retries, 1, 4);
        Assert.Equal(0, budget.Balance);
    }
}
