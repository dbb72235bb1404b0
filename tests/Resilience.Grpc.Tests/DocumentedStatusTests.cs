using System.Text.RegularExpressions;
using Grpc.Core;

namespace Resilience.Grpc.Tests;

/// <summary>What docs/grpc.md says about statuses is what <see cref="GrpcOutcomes"/> does.</summary>
public sealed partial class DocumentedStatusTests
{
    [Fact]
    public void Each_refusal_in_the_table_becomes_the_documented_status()
    {
        var rows = Page()
            .SkipWhile(line => !line.Contains("| pipeline | status |", StringComparison.Ordinal)).Skip(2)
            .TakeWhile(line => line.Trim().StartsWith('|'))
            .Select(line => line.Trim().Trim('|').Split('|').Select(cell => cell.Trim()).ToArray())
            .ToList();

        Assert.Equal(3, rows.Count);
        foreach (var cells in rows)
        {
            var status = Enum.Parse<StatusCode>(cells[1].Trim('`'));
            var exceptions = Backticked(cells[2]).ToList();
            Assert.NotEmpty(exceptions);
            foreach (var name in exceptions)
            {
                var type = typeof(ResilienceException).Assembly.GetType($"Resilience.{name}", throwOnError: true)!;
                Assert.Equal(status, GrpcOutcomes.StatusOf((ResilienceException)Activator.CreateInstance(type)!));
            }
        }
    }

    [Fact]
    public void The_documented_transient_statuses_are_those_IsTransientStatus_accepts()
    {
        // The bullet's statuses, up to the exceptions it goes on to (the statuses named after those are not failures).
        var bullet = string.Join(' ', Page()
            .SkipWhile(line => !line.StartsWith("- `GrpcOutcomes.IsTransientFailure`:", StringComparison.Ordinal))
            .TakeWhile((line, index) => index == 0 || line.StartsWith("  ", StringComparison.Ordinal)));
        var statuses = bullet[..bullet.IndexOf("and any non-gRPC exception", StringComparison.Ordinal)];
        var documented = Backticked(statuses).Where(word => Enum.TryParse<StatusCode>(word, out _)).Select(Enum.Parse<StatusCode>).ToHashSet();

        Assert.Equal(
            Enum.GetValues<StatusCode>().Where(documented.Contains),
            Enum.GetValues<StatusCode>().Where(GrpcOutcomes.IsTransientStatus));
    }

    private static IEnumerable<string> Backticked(string text) => BacktickedWord().Matches(text).Select(match => match.Groups[1].Value);

    private static string[] Page()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
        {
            directory = directory.Parent;
        }

        return File.ReadAllLines(Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("No Resilience.sln above the tests."), "docs", "grpc.md"));
    }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex BacktickedWord();
}
