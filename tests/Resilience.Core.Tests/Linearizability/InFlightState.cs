namespace Resilience.Tests.Linearizability;

/// <summary>A concurrency limiter's state in the reference model: permits in use, the limit, and which leases hold permits.</summary>
internal readonly record struct InFlightState(int InUse, int Limit, ulong Held);
