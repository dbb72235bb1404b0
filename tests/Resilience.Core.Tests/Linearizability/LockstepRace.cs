namespace Resilience.Tests.Linearizability;

/// <summary>
/// Two threads through the same numbered rounds in lockstep, swept across each other: in round i the second thread
/// starts after i % <c>spread</c> spins and the first after (i / <c>spread</c>) % <c>firstSpread</c>, so over the rounds
/// every offset of one against the other within those ranges is tried. No timing is asserted: each round has one right
/// answer whatever the schedule, and a round is checked only once both threads are done with it.
/// </summary>
internal static class LockstepRace
{
    /// <summary>Runs the rounds; returns what was wrong, one line per round answered wrong.</summary>
    /// <param name="rounds">How many rounds.</param>
    /// <param name="spread">How many different delays the second thread takes (spins).</param>
    /// <param name="firstSpread">How many different delays the first thread takes (spins), changing every <paramref name="spread"/> rounds.</param>
    /// <param name="setUp">Prepares round i on the calling thread before either thread starts it, or <see langword="null"/>.</param>
    /// <param name="first">Round i's part on the calling thread.</param>
    /// <param name="second">Round i's part on the other thread.</param>
    /// <param name="check">What was wrong with round i once both parts are done, or <see langword="null"/>.</param>
    public static List<string> Run(
        int rounds, int spread, int firstSpread, Action<int>? setUp, Action<int> first, Action<int> second, Func<int, string?> check)
    {
        var started = -1;
        var done = -1;
        var other = new Thread(() =>
        {
            for (var i = 0; i < rounds; i++)
            {
                var spin = default(SpinWait);
                while (Volatile.Read(ref started) != i)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Thread.SpinWait(i % spread);
                second(i);
                Volatile.Write(ref done, i);
            }
        }) { IsBackground = true };
        other.Start();

        var wrong = new List<string>();
        for (var i = 0; i < rounds; i++)
        {
            setUp?.Invoke(i);
            Volatile.Write(ref started, i);
            Thread.SpinWait((i / spread) % firstSpread);
            first(i);
            var spin = default(SpinWait);
            while (Volatile.Read(ref done) != i)
            {
                spin.SpinOnce(sleep1Threshold: -1);

                // A thread that ended before its part of this round (it threw) is never coming; one that did its part did.
                Assert.True(other.IsAlive || Volatile.Read(ref done) == i, "the other thread stopped");
            }

            if (check(i) is { } answer)
            {
                wrong.Add($"round {i}: {answer}");
            }
        }

        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        return wrong;
    }
}
