namespace Resilience.Examples;

/// <summary>A small, self-contained scenario that prints what happens in plain sentences.</summary>
public interface IExample
{
    /// <summary>Gets the name to run it by, as in <c>dotnet run --project samples/Resilience.Examples -- circuit-breaker</c>.</summary>
    string Name { get; }

    /// <summary>Gets a one-line description.</summary>
    string Summary { get; }

    /// <summary>Runs the scenario.</summary>
    /// <param name="output">Where the sentences go.</param>
    /// <param name="cancellationToken">Stops the scenario.</param>
    /// <returns>A task that completes when the scenario is over.</returns>
    Task RunAsync(TextWriter output, CancellationToken cancellationToken = default);
}
