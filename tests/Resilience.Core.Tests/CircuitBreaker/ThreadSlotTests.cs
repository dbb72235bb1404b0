namespace Resilience.Tests.CircuitBreaker;

/// <summary>A thread number has one live holder: the own cells of a breaker's window rely on it for their plain stores.</summary>
[Collection(ThreadSlotCollection.Name)]
public class ThreadSlotTests
{
    [Fact]
    public void Threads_running_at_once_hold_distinct_numbers_each_keeps_for_its_life()
    {
        const int Threads = 16;
        var first = new int[Threads];
        var second = new int[Threads];
        using var taken = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            first[t] = ThreadSlot.Current;

            // Every thread holds its number until all have taken theirs.
            taken.SignalAndWait();
            second[t] = ThreadSlot.Current;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Equal(first, second);
        var held = first.Where(slot => slot != ThreadSlot.None).ToList();
        Assert.Equal(held.Count, held.Distinct().Count());
        Assert.All(held, slot => Assert.InRange(slot, 0, ThreadSlot.Count - 1));

        // Sixteen threads and the few this process had already numbered fit in 64.
        Assert.Equal(Threads, held.Count);
    }

    [Fact]
    public void A_thread_that_ended_gives_its_number_back()
    {
        var slot = ThreadSlot.None;
        var thread = new Thread(() => slot = ThreadSlot.Current);
        thread.Start();
        thread.Join();
        Assert.InRange(slot, 0, ThreadSlot.Count - 1);

        var bit = 1UL << slot;
        for (var i = 0; i < 50 && (ThreadSlot.Held & bit) != 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0UL, ThreadSlot.Held & bit);

        // The lowest free number goes to the next thread that asks: this one, as nothing else runs.
        var next = ThreadSlot.None;
        var another = new Thread(() => next = ThreadSlot.Current);
        another.Start();
        another.Join();
        Assert.True(next <= slot, $"took {next} while {slot} was free");
    }
}
