using System.Collections.Immutable;
using System.Globalization;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Resilience.Examples.Tests.Documentation;

/// <summary>
/// Compiles documentation snippets against the libraries and the assemblies this test process has (the
/// shared frameworks, gRPC, the Microsoft.Extensions packages), each snippet in its own namespace of one
/// compilation: its statements become the body of an async method, after its preamble's statements, and its
/// types follow. <c>#line</c> directives point every diagnostic in the snippet at its Markdown file and line.
/// </summary>
internal sealed class SnippetCompilation
{
    /// <summary>The usings every snippet may take for granted: common System namespaces and the libraries'.</summary>
    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.Diagnostics;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        global using Resilience;
        global using Resilience.Grpc;
        global using Resilience.Http;
        """;

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(LoadReferences);

    /// <summary>Obsolete members are defects in a snippet too, though only warnings to the compiler.</summary>
    private static readonly HashSet<string> ObsoleteDiagnostics = ["CS0612", "CS0618"];

    private readonly Dictionary<DocumentationSnippet, List<string>> _failures = [];

    private SnippetCompilation()
    {
    }

    /// <summary>Compiles the snippets, each with the preamble <paramref name="preambleOf"/> gives it.</summary>
    public static SnippetCompilation Compile(IReadOnlyList<DocumentationSnippet> snippets, Func<DocumentationSnippet, SnippetPreamble> preambleOf)
    {
        var result = new SnippetCompilation();
        var trees = new List<SyntaxTree> { CSharpSyntaxTree.ParseText(ImplicitUsings, ParseOptions, "ImplicitUsings.cs") };
        var owners = new Dictionary<SyntaxTree, DocumentationSnippet>();
        for (var i = 0; i < snippets.Count; i++)
        {
            var snippet = snippets[i];
            result._failures[snippet] = [];
            var tree = CSharpSyntaxTree.ParseText(
                Scaffold(snippet, preambleOf(snippet), $"Snippet{i}", result._failures[snippet]),
                ParseOptions,
                $"{snippet.File}#{snippet.Index}.generated.cs",
                Encoding.UTF8);
            trees.Add(tree);
            owners[tree] = snippet;
        }

        var compilation = CSharpCompilation.Create(
            "DocumentationSnippets",
            trees,
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        foreach (var diagnostic in compilation.GetDiagnostics())
        {
            var isDefect = diagnostic.Severity == DiagnosticSeverity.Error || ObsoleteDiagnostics.Contains(diagnostic.Id);
            if (isDefect && diagnostic.Location.SourceTree is { } tree && owners.TryGetValue(tree, out var snippet))
            {
                result._failures[snippet].Add(Describe(diagnostic));
            }
        }

        return result;
    }

    /// <summary>Compiles and loads standalone source against the same references, the usings every snippet has included.</summary>
    public static System.Reflection.Assembly Load(string source)
    {
        var compilation = CSharpCompilation.Create(
            "DocumentationSnippetParts" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(ImplicitUsings, ParseOptions), CSharpSyntaxTree.ParseText(source, ParseOptions)],
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        Assert.True(emitted.Success, string.Join('\n', emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return System.Reflection.Assembly.Load(image.ToArray());
    }

    /// <summary>The compiler's complaints about a snippet, each as "file(line,column): id: message"; empty when it compiles.</summary>
    public IReadOnlyList<string> FailuresOf(DocumentationSnippet snippet) => _failures[snippet];

    private static string Describe(Diagnostic diagnostic)
    {
        var span = diagnostic.Location.GetMappedLineSpan();
        return string.Create(
            CultureInfo.InvariantCulture,
            $"{span.Path}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1}): {diagnostic.Id}: {diagnostic.GetMessage(CultureInfo.InvariantCulture)}");
    }

    private static string Scaffold(DocumentationSnippet snippet, SnippetPreamble preamble, string namespaceName, List<string> failures)
    {
        var parsed = CSharpSyntaxTree.ParseText(snippet.Code, ParseOptions);
        foreach (var error in parsed.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error))
        {
            var line = error.Location.GetLineSpan().StartLinePosition;
            failures.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"{snippet.File}({snippet.FirstLine + line.Line},{line.Character + 1}): {error.Id}: {error.GetMessage(CultureInfo.InvariantCulture)}"));
        }

        var root = (CompilationUnitSyntax)parsed.GetRoot();
        var text = new StringBuilder();
        text.AppendLine(preamble.Usings);
        foreach (var usingDirective in root.Usings)
        {
            AppendMapped(text, snippet, parsed, usingDirective);
        }

        text.AppendLine("#line default");
        text.AppendLine(CultureInfo.InvariantCulture, $"namespace {namespaceName}");
        text.AppendLine("{");
        text.AppendLine("internal static class SnippetBody");
        text.AppendLine("{");
        text.AppendLine("internal static async Task RunAsync()");
        text.AppendLine("{");
        text.AppendLine(preamble.Statements);
        text.AppendLine("await Task.CompletedTask;");
        foreach (var statement in root.Members.OfType<GlobalStatementSyntax>())
        {
            AppendMapped(text, snippet, parsed, statement);
        }

        text.AppendLine("#line default");
        text.AppendLine("}");
        text.AppendLine("}");
        foreach (var member in root.Members.Where(member => member is not GlobalStatementSyntax))
        {
            AppendMapped(text, snippet, parsed, member);
        }

        text.AppendLine("#line default");
        text.AppendLine(preamble.Types);
        text.AppendLine("}");
        return text.ToString();
    }

    /// <summary>Appends a node of the snippet where its diagnostics map back to its Markdown line and column.</summary>
    private static void AppendMapped(StringBuilder text, DocumentationSnippet snippet, SyntaxTree parsed, SyntaxNode node)
    {
        var start = parsed.GetLineSpan(node.Span).StartLinePosition;
        text.AppendLine(CultureInfo.InvariantCulture, $"#line {snippet.FirstLine + start.Line} \"{snippet.File}\"");
        text.Append(' ', start.Character).AppendLine(node.ToString());
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        // The shared frameworks the test host runs on, then the packages and projects beside the test assembly.
        var platform = ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? string.Empty).Split(Path.PathSeparator);
        var local = Directory.GetFiles(AppContext.BaseDirectory, "*.dll");
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in platform.Concat(local).Where(path => path.Length > 0))
        {
            byName.TryAdd(Path.GetFileName(path), path);
        }

        return [.. byName.Values.Where(IsManagedAssembly).Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))];
    }

    private static bool IsManagedAssembly(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new PEReader(stream);
        return reader.HasMetadata && reader.GetMetadataReader().IsAssembly;
    }
}
