namespace Resilience.Options;

/// <summary>Options that may name the clock of what they build; a copy of them can be given another.</summary>
/// <typeparam name="TOptions">The options type itself.</typeparam>
internal interface IClockOptions<TOptions>
    where TOptions : class, IClockOptions<TOptions>
{
    /// <summary>Gets or sets the clock; <see langword="null"/> for the one the builder or the system gives.</summary>
    TimeProvider? TimeProvider { get; set; }

    /// <summary>Creates a copy.</summary>
    /// <returns>The copy.</returns>
    TOptions Clone();
}
