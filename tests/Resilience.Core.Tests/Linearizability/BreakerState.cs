namespace Resilience.Tests.Linearizability;

/// <summary>
/// A circuit breaker's state in the reference model: its state word (state, generation, probes admitted in the round),
/// the run of consecutive failures, the round's probe verdicts, the break's end and the probe deadline (milliseconds).
/// </summary>
internal readonly record struct BreakerState(
    CircuitState State, uint Generation, int Probes, int Run, int ProbeSuccesses, int ProbeFailures, long OpenUntil, long ProbeDeadline);
