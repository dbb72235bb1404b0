namespace Resilience.Configuration;

/// <summary>A shared named instance declared in code.</summary>
/// <param name="Kind">The kind.</param>
/// <param name="Name">The instance's name.</param>
/// <param name="Configure">The code's options, applied before configuration; may be <see langword="null"/>.</param>
internal sealed record SharedRegistration(ComponentKind Kind, string Name, Action<object>? Configure)
{
    public ComponentSource ToSource() => new(Kind, $"{Kind.SharedSection}:{Name}", Name, Configure);
}
