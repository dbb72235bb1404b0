namespace Resilience.Tests.Pipeline;

/// <summary>What a scripted strategy's exit does.</summary>
public enum ModelExit
{
    Continue,
    RetryNow,
    RetryAfterDelay,
    Fail,
    Throw,
    FallbackNow,
    FallbackLater,
    FallbackThrows,
    FallbackFaultsLater,
}
