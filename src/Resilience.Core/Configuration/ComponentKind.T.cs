using System.Diagnostics.CodeAnalysis;

namespace Resilience.Configuration;

/// <summary>A component kind over its options and instance types.</summary>
/// <typeparam name="TOptions">The options type.</typeparam>
/// <typeparam name="TInstance">The live instance type.</typeparam>
internal sealed class ComponentKind<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] TOptions, TInstance> : ComponentKind
    where TOptions : class, new()
    where TInstance : class
{
    private readonly Func<TOptions, TOptions> _clone;
    private readonly Action<TOptions> _validate;
    private readonly Action<TOptions, string, TimeProvider> _prepare;
    private readonly Func<TOptions, TInstance> _create;
    private readonly Action<TInstance, TOptions> _update;
    private readonly Func<TInstance, string, ResilienceStrategy>? _strategy;

    public ComponentKind(
        string name,
        string? sharedSection,
        Func<TOptions, TOptions> clone,
        Action<TOptions> validate,
        Action<TOptions, string, TimeProvider> prepare,
        Func<TOptions, TInstance> create,
        Action<TInstance, TOptions> update,
        Func<TInstance, string, ResilienceStrategy>? strategy,
        IReadOnlyList<string>? fixedOptions = null)
        : base(name, sharedSection, typeof(TOptions), fixedOptions)
    {
        _clone = clone;
        _validate = validate;
        _prepare = prepare;
        _create = create;
        _update = update;
        _strategy = strategy;
    }

    public override bool IsStrategy => _strategy is not null;

    public override object CreateDefault() => new TOptions();

    public override object Clone(object options) => _clone((TOptions)options);

    public override void Prepare(object options, string name, TimeProvider timeProvider) => _prepare((TOptions)options, name, timeProvider);

    public override void Validate(object options) => _validate((TOptions)options);

    public override object Create(object options) => _create((TOptions)options);

    public override void Update(object instance, object options) => _update((TInstance)instance, (TOptions)options);

    public override ResilienceStrategy CreateStrategy(object instance, string name) =>
        _strategy is { } strategy
            ? strategy((TInstance)instance, name)
            : throw new InvalidOperationException($"A {Name} is not a strategy: retries refer to it.");
}
