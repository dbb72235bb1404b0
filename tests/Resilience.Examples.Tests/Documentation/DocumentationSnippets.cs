namespace Resilience.Examples.Tests.Documentation;

/// <summary>Finds the C# blocks of the documentation: README.md, docs/*.md and each package's README.</summary>
internal static class DocumentationSnippets
{
    private const string CSharpFence = "```csharp";

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static IReadOnlyList<string> MarkdownFiles()
    {
        var files = new List<string> { "README.md" };
        files.AddRange(Directory.GetFiles(Path.Combine(RepositoryRoot, "docs"), "*.md").Select(Relative));
        files.AddRange(Directory.GetDirectories(Path.Combine(RepositoryRoot, "src"))
            .Select(directory => Path.Combine(directory, "README.md"))
            .Where(File.Exists)
            .Select(Relative));
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    public static IReadOnlyList<DocumentationSnippet> All() => MarkdownFiles().SelectMany(Read).ToArray();

    /// <summary>The C# blocks of one file; a fence that opens with ```csharp and closes with a bare ```.</summary>
    public static IEnumerable<DocumentationSnippet> Read(string file)
    {
        var lines = File.ReadAllLines(Path.Combine(RepositoryRoot, file));
        var index = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != CSharpFence)
            {
                continue;
            }

            var first = i + 1;
            var end = first;
            while (end < lines.Length && lines[end].Trim() != "```")
            {
                end++;
            }

            Assert.True(end < lines.Length, $"{file}: the C# block opened on line {i + 1} is never closed.");
            yield return new DocumentationSnippet(file, index++, first + 1, string.Join('\n', lines[first..end]));
            i = end;
        }
    }

    private static string Relative(string path) => Path.GetRelativePath(RepositoryRoot, path).Replace('\\', '/');

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Resilience.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Resilience.sln above {AppContext.BaseDirectory}.");
    }
}
