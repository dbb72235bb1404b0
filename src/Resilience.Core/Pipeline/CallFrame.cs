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
}
