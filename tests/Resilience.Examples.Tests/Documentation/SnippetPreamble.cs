namespace Resilience.Examples.Tests.Documentation;

/// <summary>
/// What a documentation snippet takes as given: the free identifiers it uses (a cancellation token, the
/// caller's own service client, a service collection) and the types of the caller's domain (a product, an order).
/// </summary>
/// <param name="Usings">Using directives the declarations need, one a line.</param>
/// <param name="Statements">Statements run before the snippet's own: the variables the snippet uses.</param>
/// <param name="Types">Type declarations the snippet and the statements use.</param>
internal sealed record SnippetPreamble(string Usings = "", string Statements = "", string Types = "")
{
    public static SnippetPreamble None { get; } = new();
}
