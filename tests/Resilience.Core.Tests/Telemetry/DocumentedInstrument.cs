using System.Text.RegularExpressions;

namespace Resilience.Tests.Telemetry;

/// <summary>A row of the instrument table of docs/telemetry.md: what the meter is documented to publish; also reads the table of activity events.</summary>
internal sealed partial record DocumentedInstrument(string Name, string Kind, string Unit, IReadOnlySet<string> Tags)
{
    /// <summary>Reads every row of the "Instruments" table; a tag is a backticked word the "Tags:" paragraph names.</summary>
    public static IReadOnlyList<DocumentedInstrument> ReadAll()
    {
        var section = Section("## Instruments");
        var tagParagraph = section.SkipWhile(line => !line.StartsWith("Tags:", StringComparison.Ordinal)).TakeWhile(line => line.Length > 0);
        var tagNames = Backticked(string.Join(" ", tagParagraph)).ToHashSet(StringComparer.Ordinal);
        return
        [
            .. section
                .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
                .Select(line => UnescapedBar().Split(line).Select(cell => cell.Trim()).ToArray())
                .Select(cells => new DocumentedInstrument(
                    cells[1].Trim('`'),
                    cells[2],
                    cells[3].Trim('`'),
                    Backticked(TopLevel(cells[4])).Where(tagNames.Contains).ToHashSet(StringComparer.Ordinal))),
        ];
    }

    /// <summary>Reads every row of the "Activity events" table: each event's name and tags.</summary>
    public static IReadOnlyDictionary<string, IReadOnlySet<string>> ReadEvents() =>
        Section("## Activity events")
            .Where(line => line.StartsWith("| `", StringComparison.Ordinal))
            .Select(line => UnescapedBar().Split(line).Select(cell => cell.Trim()).ToArray())
            .ToDictionary(cells => cells[1].Trim('`'), cells => (IReadOnlySet<string>)Backticked(cells[2]).ToHashSet(StringComparer.Ordinal));

    private static List<string> Section(string heading) =>
        [.. File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "telemetry.md")).SkipWhile(line => line != heading).Skip(1).TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal))];

    private static IEnumerable<string> Backticked(string text) => BacktickedWord().Matches(text).Select(match => match.Groups[1].Value);

    // The tag names of a cell, without the values listed in parentheses or after an equals sign.
    private static string TopLevel(string cell) => string.Join(",", ValuesOfTag().Replace(cell, string.Empty).Split(',').Select(part => part.Split('=')[0]));

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("The repository's root (Resilience.sln) is above no test directory.");
    }

    [GeneratedRegex("`([^`]+)`")]
    private static partial Regex BacktickedWord();

    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex UnescapedBar();

    [GeneratedRegex(@"\([^)]*\)")]
    private static partial Regex ValuesOfTag();
}
