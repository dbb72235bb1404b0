namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>An option a tree sets to a valid text: once built, the instance at <see cref="Owner"/> must hold it.</summary>
/// <param name="Owner">Where the instance is: <c>pipeline/index</c> for a pipeline's strategy, <c>Kind/name</c> for a shared instance.</param>
/// <param name="Kind">The kind of the instance.</param>
/// <param name="Option">The option's property name.</param>
/// <param name="Text">The configured text.</param>
internal sealed record ConfiguredOption(string Owner, string Kind, string Option, string Text);
