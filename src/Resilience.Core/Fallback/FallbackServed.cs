namespace Resilience;

/// <summary>A fallback level served a call (raised for metrics and logs).</summary>
/// <param name="PipelineName">The pipeline.</param>
/// <param name="Level">The index of the level that served.</param>
/// <param name="LevelName">The name of the level that served.</param>
/// <param name="Failure">What it replaced: the exception (a rejection materialised as its exception).</param>
public sealed record FallbackServed(string? PipelineName, int Level, string LevelName, Exception? Failure);
