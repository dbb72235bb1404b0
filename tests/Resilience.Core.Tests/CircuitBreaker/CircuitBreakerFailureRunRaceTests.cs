using Microsoft.Extensions.Time.Testing;
using Resilience.Tests.Linearizability;
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

        var admitted = new bool[Iterations];
        var wrong = LockstepRace.Run(
            Iterations,
            spread: 32,
            firstSpread: 16,
            setUp: null,
            first: i => breakers[i].Record(failing[i], CircuitCallResult.Failure),
            second: i =>
            {
                breakers[i].Record(succeeding[i], CircuitCallResult.Success);
                admitted[i] = breakers[i].TryAcquire(out _);
            },
            check: i => admitted[i] && breakers[i].State == CircuitState.Open ? "admitted after the success, then opened by the failure it overtook" : null);

        Assert.Empty(wrong);
    }
}
