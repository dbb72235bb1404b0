namespace Resilience;

/// <summary>The part of a running call that every strategy's context shares.</summary>
internal struct CallFrame
{
    public PipelineCore Pipeline;
    public CancellationToken CallerToken;

    /// <summary>The token passed inward at the current depth.</summary>
    public CancellationToken Token;

    /// <summary>The timestamp read during the current enter or exit pass; 0 until a strategy asks.</summary>
    public long Timestamp;

    /// <summary>The coarse system clock (in ticks) read during the current pass; 0 until a strategy asks.</summary>
    public long CoarseTicks;

    /// <summary>Starts a pass (entering, exiting, or going on after an await): the next strategy to ask reads the clocks afresh.</summary>
    public void NewPass()
    {
        Timestamp = 0;
        CoarseTicks = 0;
    }
}
