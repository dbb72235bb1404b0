using System.Globalization;
using System.Text.RegularExpressions;

namespace Resilience.Examples.Tests;

public partial class ExampleRunnerTests
{
    private static readonly string[] Names = ["circuit-breaker", "rate-limiting", "timeout", "retry", "fallback", "telemetry", "configuration", "http", "grpc"];

    [Fact]
    public async Task Without_an_argument_it_lists_every_example()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);

        Assert.Equal(0, await ExampleRunner.RunAsync([], writer));

        var listed = writer.ToString().Split(Environment.NewLine).Where(line => line.StartsWith("  ", StringComparison.Ordinal)).Select(line => line.Trim().Split(' ')[0]);
        Assert.Equal(Names, listed);
    }

    [Fact]
    public async Task An_unknown_name_fails_and_lists_the_examples()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);

        Assert.Equal(2, await ExampleRunner.RunAsync(["circuit"], writer));

        Assert.StartsWith("There is no example named 'circuit'.", writer.ToString(), StringComparison.Ordinal);
        Assert.Contains("  http ", writer.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_strategy_page_names_its_example_file_and_the_command_that_runs_it()
    {
        var root = RepositoryRoot();
        var pages = new Dictionary<string, string>
        {
            ["circuit-breaker.md"] = "circuit-breaker",
            ["rate-limiting.md"] = "rate-limiting",
            ["timeout.md"] = "timeout",
            ["retry.md"] = "retry",
            ["fallback.md"] = "fallback",
            ["telemetry.md"] = "telemetry",
            ["configuration.md"] = "configuration",
            ["http.md"] = "http",
            ["grpc.md"] = "grpc",
        };

        foreach (var (page, name) in pages)
        {
            var text = File.ReadAllText(Path.Combine(root, "docs", page));
            Assert.Contains($"dotnet run --project samples/Resilience.Examples -- {name}", text, StringComparison.Ordinal);
            var file = ExampleFile().Match(text);
            Assert.True(file.Success, $"docs/{page} names no example file.");
            Assert.True(File.Exists(Path.Combine(root, file.Value)), $"docs/{page} names {file.Value}, which does not exist.");
            var typeName = Path.GetFileNameWithoutExtension(file.Value);
            Assert.Equal(name, ExampleRunner.All.Single(e => e.GetType().Name == typeName).Name);
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
        {
            directory = directory.Parent;
        }

        Assert.NotNull(directory);
        return directory.FullName;
    }

    [GeneratedRegex(@"samples/Resilience\.Examples/\w+Example\.cs")]
    private static partial Regex ExampleFile();
}
