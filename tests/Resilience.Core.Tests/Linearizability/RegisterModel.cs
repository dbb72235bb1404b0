namespace Resilience.Tests.Linearizability;

/// <summary>
/// A read/write register of integers, the textbook sequential model the checker's own tests use: a call
/// <c>&gt;= 0</c> writes that value (its answer ignored), <c>-1</c> reads it (its answer the value read).
/// </summary>
internal sealed class RegisterModel : ISequentialModel<int, int, int>
{
    public const int Read = -1;

    public bool TryApply(int state, int call, int observed, out int next)
    {
        next = call == Read ? state : call;
        return call != Read || observed == state;
    }
}
