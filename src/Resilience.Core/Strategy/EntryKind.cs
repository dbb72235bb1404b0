namespace Resilience;

/// <summary>The kinds of <see cref="Entry"/>.</summary>
public enum EntryKind
{
    /// <summary>The call goes on.</summary>
    Admitted = 0,

    /// <summary>The call is refused.</summary>
    Rejected = 1,

    /// <summary>Admission is being awaited.</summary>
    Pending = 2,
}
