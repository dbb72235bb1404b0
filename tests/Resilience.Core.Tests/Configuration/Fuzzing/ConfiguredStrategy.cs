namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>A strategy a tree lists in a pipeline.</summary>
/// <param name="Section">The section's name.</param>
/// <param name="Kind">The strategy's kind.</param>
/// <param name="Shared">The shared instance it refers to, if any.</param>
internal sealed record ConfiguredStrategy(string Section, string Kind, string? Shared);
