using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Resilience.Examples.Tests.Documentation;

/// <summary>
/// The predicates of the documentation's HTTP pipelines that read the response (<c>Result</c>): each compiled on
/// its own, so a test can give it the outcomes a pipeline gives it.
/// </summary>
internal static class SnippetPredicates
{
    /// <summary>Each such lambda, as written, with the snippet it is in.</summary>
    public static IReadOnlyList<(DocumentationSnippet Snippet, string Lambda)> ReadingTheResult() =>
        DocumentationSnippets.All()
            .SelectMany(snippet => CSharpSyntaxTree.ParseText(snippet.Code).GetRoot().DescendantNodes()
                .OfType<SimpleLambdaExpressionSyntax>()
                .Where(lambda => lambda.ToString().Contains(".Result", StringComparison.Ordinal))
                .Select(lambda => (snippet, lambda.ToString())))
            .ToArray();

    /// <summary>Compiles a lambda as a predicate of <see cref="HttpResponseMessage"/> outcomes.</summary>
    public static Func<Outcome<HttpResponseMessage>, bool> Compile(string lambda)
    {
        var assembly = SnippetCompilation.Load($$"""
            public static class Predicate
            {
                public static readonly Func<Outcome<HttpResponseMessage>, bool> Judge = {{lambda}};
            }
            """);
        var field = assembly.GetType("Predicate")!.GetField("Judge")!;
        return (Func<Outcome<HttpResponseMessage>, bool>)field.GetValue(null)!;
    }
}
