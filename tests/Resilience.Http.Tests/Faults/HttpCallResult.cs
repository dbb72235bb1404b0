namespace Resilience.Http.Tests.Faults;

/// <summary>What a caller of a soak run got: a response's status, or the exception its send threw.</summary>
internal sealed record HttpCallResult(int? Status, Exception? Failure);
