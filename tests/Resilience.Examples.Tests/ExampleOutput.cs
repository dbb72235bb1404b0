using System.Globalization;
using System.Text.RegularExpressions;

namespace Resilience.Examples.Tests;

/// <summary>Runs an example by name, as the command line does, and gives its output as lines.</summary>
internal sealed class ExampleOutput
{
    private ExampleOutput(string text)
    {
        Text = text;
        Lines = text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries).Select(line => line.Trim()).ToArray();
    }

    public string Text { get; }

    public IReadOnlyList<string> Lines { get; }

    public static async Task<ExampleOutput> RunAsync(string name)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var exitCode = await ExampleRunner.RunAsync([name], writer, stop.Token);
        Assert.Equal(0, exitCode);
        return new ExampleOutput(writer.ToString());
    }

    /// <summary>The lines that start with <paramref name="prefix"/>, in order.</summary>
    public string[] Starting(string prefix) => Lines.Where(line => line.StartsWith(prefix, StringComparison.Ordinal)).ToArray();

    /// <summary>Asserts that the output has exactly this line.</summary>
    public void Has(string line) => Assert.Contains(line, Lines);

    /// <summary>Asserts that these lines appear in this order (other lines may come between them).</summary>
    public void HasInOrder(params string[] expected)
    {
        var index = 0;
        foreach (var line in Lines)
        {
            if (index < expected.Length && line == expected[index])
            {
                index++;
            }
        }

        Assert.True(index == expected.Length, $"Missing, or out of order: \"{(index < expected.Length ? expected[index] : "")}\"{Environment.NewLine}Output:{Environment.NewLine}{Text}");
    }

    /// <summary>Finds the single line matching <paramref name="pattern"/> and returns its first group as a number.</summary>
    public double Number(string pattern)
    {
        var matches = Lines.Select(line => Regex.Match(line, pattern)).Where(match => match.Success).ToArray();
        Assert.True(matches.Length == 1, $"Expected one line matching {pattern}; found {matches.Length}.{Environment.NewLine}Output:{Environment.NewLine}{Text}");
        return double.Parse(matches[0].Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
