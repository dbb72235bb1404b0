namespace Resilience;

/// <summary>Creates <see cref="Outcome{T}"/> values.</summary>
public static class Outcome
{
    /// <summary>Creates a successful outcome.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="result">The result.</param>
    /// <returns>An outcome holding <paramref name="result"/>.</returns>
    public static Outcome<T> FromResult<T>(T result) => new(result);

    /// <summary>Creates a failed outcome.</summary>
    /// <typeparam name="T">The result type.</typeparam>
    /// <param name="exception">The failure.</param>
    /// <returns>An outcome holding <paramref name="exception"/>.</returns>
    public static Outcome<T> FromException<T>(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(exception);
    }
}
