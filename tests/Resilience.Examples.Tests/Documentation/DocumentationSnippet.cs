namespace Resilience.Examples.Tests.Documentation;

/// <summary>One ```csharp block of a Markdown file.</summary>
/// <param name="File">The Markdown file, relative to the repository root, with forward slashes.</param>
/// <param name="Index">The block's position among the file's C# blocks, from 0.</param>
/// <param name="FirstLine">The Markdown line (from 1) of the block's first line of code.</param>
/// <param name="Code">The block's code.</param>
internal sealed record DocumentationSnippet(string File, int Index, int FirstLine, string Code)
{
    public override string ToString() => $"{File} block {Index} (line {FirstLine})";
}
