namespace Resilience.Tests.Composite;

/// <summary>A timer of <see cref="OverlappingCallsModel"/>: when it fires (ties: the one armed first), for which call, and what it ends.</summary>
internal sealed record OverlappingTimer(long Due, long Sequence, OverlappingCallModel Call, OverlappingTimerKind Kind);
