namespace Resilience.Configuration;

/// <summary>Options pushed by code for one component, and the text of its configuration section at that moment.</summary>
/// <param name="Options">A copy of the pushed options.</param>
/// <param name="SectionFingerprint">The section's values when pushed: a later change there takes over again.</param>
internal sealed record PushedOptions(object Options, string SectionFingerprint);
