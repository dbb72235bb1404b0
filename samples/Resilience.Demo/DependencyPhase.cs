namespace Resilience.Demo;

/// <summary>The scripted health of the simulated dependency.</summary>
internal enum DependencyPhase
{
    Healthy,
    Failing,
    Recovering,
}
