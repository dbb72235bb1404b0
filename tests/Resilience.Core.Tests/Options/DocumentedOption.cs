using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Resilience.Tests.Options;

/// <summary>
/// What one option is documented to be: a row of an options table in docs/ (its default and range cells), or the
/// summary of its property in the library's XML documentation.
/// </summary>
internal sealed partial record DocumentedOption(string Name, string Default, string Range)
{
    /// <summary>Reads the one options table (header <c>| option | default |</c>) of a section of a page.</summary>
    /// <param name="page">The page under docs/.</param>
    /// <param name="heading">The heading the section starts with (<c>## Options</c>; the page's title for a page without sections); it ends at the next <c>## </c> heading.</param>
    public static IReadOnlyList<DocumentedOption> ReadTable(string page, string heading)
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", page));
        var section = lines.SkipWhile(line => !line.StartsWith(heading, StringComparison.Ordinal)).Skip(1)
            .TakeWhile(line => !line.StartsWith("## ", StringComparison.Ordinal))
            .ToList();
        var headers = section.Where(line => line.StartsWith("| option | default |", StringComparison.Ordinal)).ToList();
        Assert.True(headers.Count == 1, $"docs/{page}, section '{heading}', holds {headers.Count} options tables; expected one.");

        var columns = Cells(headers[0]);
        var option = Array.IndexOf(columns, "option");
        var defaultValue = Array.IndexOf(columns, "default");
        var range = Array.IndexOf(columns, "range");
        return
        [
            .. section.Skip(section.IndexOf(headers[0]) + 2)
                .TakeWhile(line => line.StartsWith('|'))
                .Select(Cells)
                .Select(cells => new DocumentedOption(cells[option].Trim('`'), cells[defaultValue], range < 0 ? string.Empty : cells[range])),
        ];
    }

    /// <summary>
    /// Reads the range and default an option's XML summary states (<c>Range [1, 1000]; default 10.</c>,
    /// <c>null (default) for none</c>); a part it does not state is empty.
    /// </summary>
    public static DocumentedOption FromXmlDocs(PropertyInfo property)
    {
        var declaring = property.DeclaringType!.IsConstructedGenericType ? property.DeclaringType.GetGenericTypeDefinition() : property.DeclaringType;
        var member = $"P:{declaring.FullName}.{property.Name}";
        var summary = XmlDocs.Value.Descendants("member").SingleOrDefault(element => (string?)element.Attribute("name") == member)?.Element("summary");
        Assert.True(summary is not null, $"{member} has no XML summary.");

        var text = WhiteSpace().Replace(string.Concat(summary.Nodes().Select(Text)), " ").Trim();
        var range = RangeInSummary().Match(text) is { Success: true } rangeMatch ? rangeMatch.Groups[1].Value : string.Empty;
        var defaultValue = DefaultAfter().Match(text) is { Success: true } after ? after.Groups[1].Value
            : DefaultBefore().Match(text) is { Success: true } before ? before.Groups[1].Value
            : string.Empty;
        return new DocumentedOption(property.Name, defaultValue, range);
    }

    private static readonly Lazy<XDocument> XmlDocs = new(() => XDocument.Load(Path.Combine(AppContext.BaseDirectory, "Resilience.Core.xml")));

    // A cross-reference reads as the name it refers to, a keyword or code span as its text.
    private static string Text(XNode node) => node switch
    {
        XText text => text.Value,
        XElement { Name.LocalName: "see" } see when (string?)see.Attribute("cref") is { } cref => cref[(cref.LastIndexOf('.') + 1)..],
        XElement { Name.LocalName: "see" } see when (string?)see.Attribute("langword") is { } word => word,
        XElement element => string.Concat(element.Nodes().Select(Text)),
        _ => string.Empty,
    };

    private static string[] Cells(string row) =>
        [.. UnescapedBar().Split(row.Trim().Trim('|')).Select(cell => cell.Trim())];

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new DirectoryNotFoundException("The repository's root (Resilience.sln) is above no test directory.");
    }

    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex UnescapedBar();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();

    // "Range (0, 1]; default 0.5.", "Range > 0.": up to the next sentence or clause.
    [GeneratedRegex(@"\bRange (.+?)(?:; |\. |\.$)")]
    private static partial Regex RangeInSummary();

    // "default 0.5.", "Default: CircuitBreaker.", "default 1 (constant)."
    [GeneratedRegex(@"\b[Dd]efault:? (.+?)(?: \(|[.;,] |\.$)")]
    private static partial Regex DefaultAfter();

    // "null (default) for none", "zero (default) fails at once".
    [GeneratedRegex(@"(\S+) \(default\)")]
    private static partial Regex DefaultBefore();
}
