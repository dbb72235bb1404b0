namespace Resilience.Tests.Pipeline;

/// <summary>Which listener a <see cref="ModelToggle"/> attaches or detaches.</summary>
public enum ModelListener
{
    /// <summary>A <c>MeterListener</c> on every instrument of the pipeline's meter.</summary>
    Meter,

    /// <summary>An <c>ActivityListener</c> on the Resilience activity source.</summary>
    Activity,
}
