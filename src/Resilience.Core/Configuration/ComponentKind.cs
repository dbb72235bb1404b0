using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Resilience.Configuration;

/// <summary>
/// A kind of configurable component (a breaker, a limiter, a timeout, a retry, a retry budget): how its options are made,
/// bound, checked and compared, how an instance is created from them, updated in place, and put in a pipeline.
/// </summary>
internal abstract class ComponentKind
{
    /// <summary>The key a strategy's section uses to say what it is when its name does not.</summary>
    public const string TypeKey = "Type";

    /// <summary>The key a strategy's section uses to refer to a shared instance instead of holding options.</summary>
    public const string SharedKey = "Shared";

    /// <summary>The key a retry's section uses to refer to a shared retry budget.</summary>
    public const string RetryBudgetKey = "RetryBudget";

    private static readonly Dictionary<string, ComponentKind> ByNameTable = new(StringComparer.OrdinalIgnoreCase);

    protected ComponentKind(
        string name,
        string? sharedSection,
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)] Type optionsType,
        IReadOnlyList<string>? fixedOptions = null)
    {
        Name = name;
        SharedSection = sharedSection;
        OptionsType = optionsType;
        FixedProperties = [.. (fixedOptions ?? []).Select(option => optionsType.GetProperty(option)!)];

        // What configuration may set: public settable properties of simple types. Clocks and object references are
        // code's business (a retry refers to a shared budget by name instead), and a name is the instance's identity,
        // which its key gives.
        Properties = [.. optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(property => property.CanWrite && OptionValue.IsSupported(property.PropertyType) && property.Name != "Name")];
        Hooks = [.. optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(property => property.CanWrite && typeof(Delegate).IsAssignableFrom(property.PropertyType))];
    }

    public static ComponentKind CircuitBreaker { get; } = Register(new ComponentKind<CircuitBreakerOptions, Resilience.CircuitBreaker>(
        "CircuitBreaker", "CircuitBreakers",
        clone: static options => options.Clone(),
        validate: static options => options.Validate(),
        prepare: static (options, name, time) =>
        {
            options.TimeProvider ??= time;
            options.Name ??= name;
        },
        create: static options => new Resilience.CircuitBreaker(options),
        update: static (breaker, options) => breaker.UpdateOptions(options),
        strategy: static (breaker, _) => new CircuitBreakerStrategy(breaker),
        fixedOptions: [nameof(CircuitBreakerOptions.JitterSeed)]));

    public static ComponentKind TokenBucket { get; } = Register(new ComponentKind<TokenBucketLimiterOptions, TokenBucketLimiter>(
        "TokenBucket", "TokenBuckets",
        clone: static options => options.Clone(),
        validate: static options => options.Validate(),
        prepare: static (options, _, time) => options.TimeProvider ??= time,
        create: static options => new TokenBucketLimiter(options),
        update: static (limiter, options) => limiter.UpdateOptions(options),
        strategy: static (limiter, name) => new RateLimiterStrategy(limiter, name: name)));

    public static ComponentKind ConcurrencyLimiter { get; } = Register(new ComponentKind<InFlightLimiterOptions, InFlightLimiter>(
        "ConcurrencyLimiter", "ConcurrencyLimiters",
        clone: static options => options.Clone(),
        validate: static options => options.Validate(),
        prepare: static (options, _, time) => options.TimeProvider ??= time,
        create: static options => new InFlightLimiter(options),
        update: static (limiter, options) => limiter.UpdateOptions(options),
        strategy: static (limiter, name) => new RateLimiterStrategy(limiter, name: name)));

    public static ComponentKind Timeout { get; } = Register(new ComponentKind<TimeoutOptions, TimeoutStrategy>(
        "Timeout", null,
        clone: static options => options.Clone(),
        validate: static options => options.Validate(),
        prepare: static (options, name, time) =>
        {
            options.TimeProvider ??= time;
            options.Name ??= name;
        },
        create: static options => new TimeoutStrategy(options),
        update: static (timeout, options) => timeout.UpdateOptions(options),
        strategy: static (timeout, _) => timeout));

    public static ComponentKind Retry { get; } = Register(new ComponentKind<RetryOptions, RetryStrategy>(
        "Retry", null,
        clone: static options => options.Clone(),
        validate: static options => options.Validate(),
        prepare: static (options, name, _) => options.Name ??= name,
        create: static options => new RetryStrategy(options),
        update: static (retry, options) => retry.UpdateOptions(options),
        strategy: static (retry, _) => retry));

    public static ComponentKind RetryBudget { get; } = Register(new ComponentKind<RetryBudgetOptions, Resilience.RetryBudget>(
        "RetryBudget", "RetryBudgets",
        clone: static options => new RetryBudgetOptions { MaxTokens = options.MaxTokens, TokenRatio = options.TokenRatio },
        validate: static options => options.Validate(),
        prepare: static (_, _, _) => { },
        create: static options => new Resilience.RetryBudget(options),
        update: static (budget, options) => budget.UpdateOptions(options),
        strategy: null));

    /// <summary>Gets every kind.</summary>
    public static IEnumerable<ComponentKind> All => ByNameTable.Values;

    /// <summary>Gets the kind's name: the strategy type in configuration (<c>"Type": "CircuitBreaker"</c>).</summary>
    public string Name { get; }

    /// <summary>Gets the root section of shared named instances of this kind, or <see langword="null"/> when it is not shared.</summary>
    public string? SharedSection { get; }

    [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicProperties)]
    public Type OptionsType { get; }

    /// <summary>Gets the options configuration may set.</summary>
    public IReadOnlyList<PropertyInfo> Properties { get; }

    /// <summary>Gets the options that are delegates (a retry's <c>OnRetry</c>): code's alone, which configuration cannot carry.</summary>
    public IReadOnlyList<PropertyInfo> Hooks { get; }

    /// <summary>Gets the options an instance takes only when created (a breaker seeds its jitter then): a live one cannot change them.</summary>
    public IReadOnlyList<PropertyInfo> FixedProperties { get; }

    /// <summary>Gets whether instances of this kind go into pipelines (a retry budget does not: retries refer to it).</summary>
    public abstract bool IsStrategy { get; }

    public static bool TryGet(string? name, out ComponentKind kind)
    {
        kind = null!;
        return name is not null && ByNameTable.TryGetValue(name, out kind!);
    }

    public static string KnownNames => string.Join(", ", ByNameTable.Values.Where(kind => kind.IsStrategy).Select(kind => kind.Name));

    /// <summary>Creates default options, applies code's configuration and then the section's values.</summary>
    /// <param name="configure">The code's configuration, if any.</param>
    /// <param name="section">The section, if any.</param>
    /// <param name="skipped">Options whose values do not convert: they keep the value code gave them.</param>
    /// <returns>The options, not yet checked.</returns>
    /// <exception cref="InvalidOperationException">A value could not be converted (the message names its key).</exception>
    public object Bind(Action<object>? configure, IConfigurationSection? section, IReadOnlySet<string> skipped)
    {
        var options = CreateDefault();
        configure?.Invoke(options);
        if (section is null || !section.Exists())
        {
            return options;
        }

        // Every key was checked before binding (SettingsReader): each one names a property set here, and its value
        // converts unless it is among the skipped, which keep what code gave them so every error is reported at once.
        foreach (var property in Properties)
        {
            if (!skipped.Contains(property.Name) && section.GetSection(property.Name) is { Value: { } value } child)
            {
                property.SetValue(options, OptionValue.TryConvert(property.PropertyType, value, out var converted)
                    ? converted
                    : throw new InvalidOperationException($"{child.Path} does not convert to {property.PropertyType.Name}."));
            }
        }

        return options;
    }

    public abstract object CreateDefault();

    /// <summary>
    /// Gives pushed options the code's hooks: a hook the push leaves unset takes the one <paramref name="configure"/>
    /// sets. Hooks come from code alone, so that no reload loses one: a hook a push brought would be dropped when the
    /// push goes stale (its section changes), and a strategy declared in configuration would be left without it.
    /// </summary>
    /// <param name="pushed">The pushed options (a copy), completed in place.</param>
    /// <param name="configure">The code's options delegate, if any.</param>
    /// <returns>The hooks the push sets to something else than the code does; the push is refused for them.</returns>
    public IReadOnlyList<string> TakeCodeHooks(object pushed, Action<object>? configure)
    {
        if (Hooks.Count == 0)
        {
            return [];
        }

        var code = CreateDefault();
        configure?.Invoke(code);
        var foreign = new List<string>();
        foreach (var hook in Hooks)
        {
            var codes = hook.GetValue(code);
            if (hook.GetValue(pushed) is not { } own)
            {
                hook.SetValue(pushed, codes);
            }
            else if (!own.Equals(codes))
            {
                foreign.Add(hook.Name);
            }
        }

        return foreign;
    }

    public abstract object Clone(object options);

    /// <summary>Fills what configuration does not set: the clock, the instance's name.</summary>
    public abstract void Prepare(object options, string name, TimeProvider timeProvider);

    public abstract void Validate(object options);

    public abstract object Create(object options);

    public abstract void Update(object instance, object options);

    public abstract ResilienceStrategy CreateStrategy(object instance, string name);

    /// <summary>Wraps code's typed options delegate for the kind-independent machinery.</summary>
    public static Action<object>? Wrap<TOptions>(Action<TOptions>? configure) =>
        configure is null ? null : options => configure((TOptions)options);

    /// <summary>Sets the retry budget of retry options (the only cross-reference between components).</summary>
    public static void SetBudget(object options, Resilience.RetryBudget? budget) => ((RetryOptions)options).Budget = budget;

    /// <summary>Gets whether two options objects hold the same settings (references compared by identity).</summary>
    public bool SameSettings(object left, object right)
    {
        foreach (var property in OptionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.CanRead && property.GetIndexParameters().Length == 0 && !Equals(property.GetValue(left), property.GetValue(right)))
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString() => Name;

    private static ComponentKind Register(ComponentKind kind)
    {
        ByNameTable.Add(kind.Name, kind);
        return kind;
    }
}
