using Microsoft.Extensions.Time.Testing;
using Breaker = Resilience.CircuitBreaker;

namespace Resilience.Tests.CircuitBreaker;

/// <summary>
/// A success racing the failure that completes a run of <see cref="CircuitBreakerOptions.ConsecutiveFailures"/>: the
/// breaker either opens on the failure (the success is then a result of the generation it left) or the success breaks
/// the run first and it stays closed; never both.
/// </summary>
public class CircuitBreakerFailureRunRaceTests
{
    [Fact]
    public void A_success_that_broke_the_run_is_never_followed_by_an_admission_the_opening_overtakes()
    {
        // One failure recorded; one thread records the second, another a success and then asks for a call. If the
        // success came first the run is broken and the breaker stays closed; if the failure came first the breaker opened
        // before the success returned, and the call asked for after it is refused. Admitted and opened at once is neither.
        const int Iterations = 60_000;
        var time = new FakeTimeProvider();
        var breakers = new Breaker[Iterations];
        var failing = new CircuitPermit[Iterations];
        var succeeding = new CircuitPermit[Iterations];
        for (var i = 0; i < Iterations; i++)
        {
            breakers[i] = new Breaker(new CircuitBreakerOptions { MinimumThroughput = int.MaxValue, ConsecutiveFailures = 2, TimeProvider = time });
            Assert.True(breakers[i].TryAcquire(out var first));
            breakers[i].Record(first, CircuitCallResult.Failure);
            Assert.True(breakers[i].TryAcquire(out failing[i]));
            Assert.True(breakers[i].TryAcquire(out succeeding[i]));
        }

        var started = -1;
        var done = -1;
        var admitted = new bool[Iterations];
        var other = new Thread(() =>
        {
            for (var i = 0; i < Iterations; i++)
            {
                var spin = default(SpinWait);
                while (Volatile.Read(ref started) != i)
                {
                    spin.SpinOnce(sleep1Threshold: -1);
                }

                Thread.SpinWait(i % 32);
                breakers[i].Record(succeeding[i], CircuitCallResult.Success);
                admitted[i] = breakers[i].TryAcquire(out _);
                Volatile.Write(ref done, i);
            }
        }) { IsBackground = true };
        other.Start();

        var wrong = new List<string>();
        for (var i = 0; i < Iterations; i++)
        {
            Volatile.Write(ref started, i);
            Thread.SpinWait((i / 32) % 16);
            breakers[i].Record(failing[i], CircuitCallResult.Failure);
            var spin = default(SpinWait);
            while (Volatile.Read(ref done) != i)
            {
                spin.SpinOnce(sleep1Threshold: -1);

                // A thread that ended before its last answer (it threw) is never coming; one that gave it did.
                Assert.True(other.IsAlive || Volatile.Read(ref done) == i, "the other thread stopped");
            }

            if (admitted[i] && breakers[i].State == CircuitState.Open)
            {
                wrong.Add($"iteration {i}: admitted after the success, then opened by the failure it overtook");
            }
        }

        Assert.True(other.Join(TimeSpan.FromSeconds(30)));
        Assert.Empty(wrong);
    }
}
