namespace Resilience.Tests.Telemetry;

/// <summary>The attempts of a call of <see cref="ReloadTelemetryModelTests"/>: the first <c>failing</c> throw, the next returns 1.</summary>
internal sealed class ScriptedAttempts(int failing)
{
    /// <summary>Gets the attempts made.</summary>
    public int Made { get; private set; }

    public int Attempt() => ++Made <= failing ? throw new InvalidOperationException("scripted failure") : 1;
}
