namespace Resilience.Tests.Linearizability;

/// <summary>
/// Runs rounds on real threads started together: every thread runs its part of a round, then all meet at a barrier,
/// where one of them checks the round and prepares the next (advances a fake clock) while the others wait; the barrier
/// then starts them together again. The first failure stops every thread and is rethrown.
/// </summary>
internal static class RealThreadRounds
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="rounds"/> rounds of <paramref name="body"/> on <paramref name="threads"/> threads.</summary>
    /// <param name="threads">How many threads.</param>
    /// <param name="rounds">How many rounds.</param>
    /// <param name="body">One thread's part of a round: (thread, round).</param>
    /// <param name="between">Runs alone after every round: checks it (throwing when it fails) and prepares the next.</param>
    public static void Run(int threads, int rounds, Action<int, int> body, Action<int> between)
    {
        Exception? failure = null;
        var round = 0;
        using var barrier = new Barrier(threads, _ =>
        {
            if (Volatile.Read(ref failure) is not null)
            {
                return;
            }

            try
            {
                between(round);
            }
            catch (Exception exception)
            {
                Interlocked.CompareExchange(ref failure, exception, null);
            }

            round++;
        });

        var workers = Enumerable.Range(0, threads).Select(thread => new Thread(() =>
        {
            try
            {
                for (var r = 0; r < rounds && Volatile.Read(ref failure) is null; r++)
                {
                    body(thread, r);
                    if (!barrier.SignalAndWait(Bound))
                    {
                        Interlocked.CompareExchange(ref failure, new TimeoutException($"round {r} did not end within {Bound}"), null);
                    }
                }
            }
            catch (Exception exception)
            {
                Interlocked.CompareExchange(ref failure, exception, null);
            }
            finally
            {
                // A thread that stops early leaves the barrier, so the others are never held by it.
                if (Volatile.Read(ref failure) is not null)
                {
                    barrier.RemoveParticipant();
                }
            }
        })
        { IsBackground = true }).ToList();

        workers.ForEach(worker => worker.Start());
        foreach (var worker in workers)
        {
            Assert.True(worker.Join(Bound + Bound), "a worker thread did not finish");
        }

        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException($"failed in round {round}: {failure.Message}", failure);
        }
    }
}
