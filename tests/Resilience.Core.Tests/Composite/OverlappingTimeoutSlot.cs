namespace Resilience.Tests.Composite;

/// <summary>
/// The timeout's shared slot in <see cref="OverlappingCallsModel"/>: passes whose caller cannot cancel start in it until
/// <paramref name="OpenUntil"/> (a sixteenth of <paramref name="Timeout"/>), and <paramref name="Timer"/> times them all
/// out one timeout after it closes.
/// </summary>
internal sealed record OverlappingTimeoutSlot(long OpenUntil, TimeSpan Timeout, OverlappingTimer Timer);
