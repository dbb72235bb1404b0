namespace Resilience;

/// <summary>The part of a running call that every strategy's context shares.</summary>
internal struct CallFrame
{
    public PipelineCore Pipeline;
    public CancellationToken CallerToken;

    /// <summary>The token passed inward at the current depth.</summary>
    public CancellationToken Token;

    /// <summary>The clocks read during the current pass.</summary>
    public ClockReadings Clocks;

    /// <summary>Starts a pass (entering, exiting, or going on after an await): the next strategy to ask reads the clocks afresh.</summary>
    public void NewPass() => Clocks = default;
}
