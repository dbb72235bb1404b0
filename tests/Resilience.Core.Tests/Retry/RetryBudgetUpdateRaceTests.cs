namespace Resilience.Tests.Retry;

public class RetryBudgetUpdateRaceTests
{
    /// <summary>
    /// A success that read the old, larger capacity and lands just after a lowering update's cap must not leave the
    /// balance above the new capacity: once the recorders stop, the balance is within the capacity in force.
    /// Real threads, bounded rounds.
    /// </summary>
    [Fact]
    public void A_lowered_capacity_holds_against_successes_racing_the_update()
    {
        var large = new RetryBudgetOptions { MaxTokens = 1000, TokenRatio = 1 };
        var small = new RetryBudgetOptions { MaxTokens = 2, TokenRatio = 1 };
        var over = 0;
        for (var round = 0; round < 2000; round++)
        {
            var budget = new RetryBudget(large);
            for (var i = 0; i < 500; i++)
            {
                budget.RecordFailure();
            }

            using var ready = new Barrier(2);
            var stop = 0;
            var recorder = new Thread(() =>
            {
                ready.SignalAndWait();
                while (Volatile.Read(ref stop) == 0)
                {
                    budget.RecordFailure();
                    budget.RecordSuccess();
                    budget.RecordSuccess();
                }
            });
            recorder.Start();
            ready.SignalAndWait();
            Thread.SpinWait(50 + (round % 200));
            budget.UpdateOptions(small);
            Volatile.Write(ref stop, 1);
            recorder.Join();
            if (budget.Balance > small.MaxTokens)
            {
                over++;
            }
        }

        Assert.Equal(0, over);
    }
}
