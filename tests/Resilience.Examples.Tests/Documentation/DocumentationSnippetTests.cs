namespace Resilience.Examples.Tests.Documentation;

/// <summary>
/// Every ```csharp block of the documentation compiles against the libraries' public API, with only the
/// preamble <see cref="SnippetPreambles"/> gives it. A block that is not C# is fenced as something else.
/// </summary>
public class DocumentationSnippetTests
{
    private static readonly Lazy<(IReadOnlyList<DocumentationSnippet> Snippets, SnippetCompilation Compilation)> Compiled = new(() =>
    {
        var snippets = DocumentationSnippets.All();
        return (snippets, SnippetCompilation.Compile(snippets, SnippetPreambles.For));
    });

    public static TheoryData<string, int> Blocks()
    {
        var data = new TheoryData<string, int>();
        foreach (var snippet in DocumentationSnippets.All())
        {
            data.Add(snippet.File, snippet.Index);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Blocks))]
    public void A_documentation_block_compiles_against_the_public_api(string file, int index)
    {
        var (snippets, compilation) = Compiled.Value;
        var snippet = snippets.Single(s => s.File == file && s.Index == index);

        var failures = compilation.FailuresOf(snippet);

        Assert.True(failures.Count == 0, $"{snippet} does not compile:\n{string.Join('\n', failures)}");
    }

    [Fact]
    public void The_documentation_has_csharp_blocks_where_it_is_expected_to()
    {
        var files = DocumentationSnippets.All().Select(s => s.File).Distinct().ToArray();

        Assert.Contains("README.md", files);
        Assert.Contains("docs/retry.md", files);
        Assert.Contains("src/Resilience.Core/README.md", files);
    }

    [Fact]
    public void Every_preamble_belongs_to_a_block()
    {
        var blocks = DocumentationSnippets.All().Select(s => (s.File, s.Index)).ToHashSet();

        Assert.All(SnippetPreambles.Keys, key => Assert.True(blocks.Contains(key), $"No C# block {key.Index} in {key.File} for its preamble."));
    }

    [Fact]
    public void Csharp_is_fenced_as_csharp_so_that_no_block_escapes_the_compiler()
    {
        var fences = new[] { "```cs", "```c#", "```C#", "```CSharp" };
        foreach (var file in DocumentationSnippets.MarkdownFiles())
        {
            var lines = File.ReadAllLines(Path.Combine(DocumentationSnippets.RepositoryRoot, file));
            for (var i = 0; i < lines.Length; i++)
            {
                Assert.False(fences.Contains(lines[i].Trim(), StringComparer.Ordinal), $"{file}({i + 1}): fence C# as ```csharp, or pseudo-code as ```text.");
            }
        }
    }

    /// <summary>
    /// A predicate judges every failure of the strategies inside it: a timeout's, any exception the callback throws.
    /// One that reads the response of an attempt that threw fails with a NullReferenceException, which replaces the
    /// call's outcome (and is not retried).
    /// </summary>
    [Fact]
    public void A_predicate_that_reads_the_response_judges_any_exception_without_throwing()
    {
        var predicates = SnippetPredicates.ReadingTheResult();
        Assert.NotEmpty(predicates);

        Exception[] failures = [new TimeoutRejectedException(), new HttpRequestException("refused"), new InvalidOperationException("bug")];
        Assert.All(predicates, predicate =>
        {
            var judge = SnippetPredicates.Compile(predicate.Lambda);
            foreach (var failure in failures)
            {
                var thrown = Record.Exception(() => judge(Outcome.FromException<HttpResponseMessage>(failure)));
                Assert.True(thrown is null, $"{predicate.Snippet}: `{predicate.Lambda}` throws {thrown?.GetType().Name} on {failure.GetType().Name}.");
            }

            using var response = new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable);
            Assert.True(judge(Outcome.FromResult(response)), $"{predicate.Snippet}: `{predicate.Lambda}` does not handle a 503.");
        });
    }

    [Fact]
    public void A_block_that_does_not_compile_is_reported_with_its_file_block_line_and_the_compiler_message()
    {
        var broken = new DocumentationSnippet("docs/example.md", 3, 40, "var pipeline = new ResiliencePipelineBuilder()\n    .AddRetries()\n    .Build();");

        var failures = SnippetCompilation.Compile([broken], SnippetPreambles.For).FailuresOf(broken);

        var failure = Assert.Single(failures);
        Assert.StartsWith("docs/example.md(41,6): CS1061: ", failure, StringComparison.Ordinal);
        Assert.Contains("'AddRetries'", failure, StringComparison.Ordinal);
        Assert.Equal("docs/example.md block 3 (line 40)", broken.ToString());
    }
}
