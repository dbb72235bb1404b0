namespace Resilience.Examples;

/// <summary>Lists the examples and runs one by name, or all of them.</summary>
public static class ExampleRunner
{
    /// <summary>Gets every example, in the order <c>all</c> runs them.</summary>
    public static IReadOnlyList<IExample> All { get; } =
    [
        new CircuitBreakerExample(),
        new RateLimitingExample(),
        new TimeoutExample(),
        new RetryExample(),
        new FallbackExample(),
        new TelemetryExample(),
        new ConfigurationExample(),
        new HttpExample(),
        new GrpcExample(),
    ];

    /// <summary>Runs the example named by the first argument, all of them for <c>all</c>, or lists them.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="output">Where the examples write.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    /// <returns>The process exit code: 0, or 2 for an unknown name.</returns>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        if (args.Count == 0)
        {
            List(output);
            return 0;
        }

        if (string.Equals(args[0], "all", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var each in All)
            {
                await output.WriteLineAsync($"== {each.Name} ==");
                await each.RunAsync(output, cancellationToken);
                await output.WriteLineAsync();
            }

            return 0;
        }

        var example = All.FirstOrDefault(e => string.Equals(e.Name, args[0], StringComparison.OrdinalIgnoreCase));
        if (example is null)
        {
            await output.WriteLineAsync($"There is no example named '{args[0]}'.");
            List(output);
            return 2;
        }

        await example.RunAsync(output, cancellationToken);
        return 0;
    }

    private static void List(TextWriter output)
    {
        output.WriteLine("Usage: dotnet run --project samples/Resilience.Examples -- <name>   (or 'all')");
        output.WriteLine("Examples:");
        foreach (var example in All)
        {
            output.WriteLine($"  {example.Name,-16} {example.Summary}");
        }
    }
}
