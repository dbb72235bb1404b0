namespace Resilience.Configuration;

/// <summary>A component that code declared: a shared instance, or a strategy a pipeline's code binds to a section.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Key">The component key, relative to the resilience section; its options are read from the section of that key.</param>
/// <param name="Name">The instance's name.</param>
/// <param name="Configure">The code's options, applied before configuration; may be <see langword="null"/>.</param>
internal sealed record ComponentSource(ComponentKind Kind, string Key, string Name, Action<object>? Configure);
