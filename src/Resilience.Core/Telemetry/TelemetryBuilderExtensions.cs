using Resilience.Telemetry;

namespace Resilience;

/// <summary>Adds telemetry to pipeline builders.</summary>
public static class TelemetryBuilderExtensions
{
    /// <summary>
    /// Instruments the pipeline: a telemetry strategy outside every other (whatever the order of calls) counts calls by
    /// outcome and measures their duration, and the engine reports rejections, waits, retries and fallbacks inside the
    /// pipeline. Set <see cref="ResiliencePipelineBuilderBase.Name"/> first: it is the <c>pipeline</c> tag. In a typed
    /// pipeline a result counts as a failure when the predicate of the outermost strategy that has one calls it so.
    /// </summary>
    /// <typeparam name="TBuilder">The builder type.</typeparam>
    /// <param name="builder">The builder.</param>
    /// <param name="telemetry">Where to report; <see langword="null"/> for <see cref="ResilienceTelemetry.Default"/>.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="InvalidOperationException">The builder is already instrumented.</exception>
    public static TBuilder AddTelemetry<TBuilder>(this TBuilder builder, ResilienceTelemetry? telemetry = null)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (builder.Telemetry is not null)
        {
            throw new InvalidOperationException("The pipeline builder already has telemetry.");
        }

        return builder.AddTelemetry(telemetry, instanceKey: null);
    }

    /// <summary>Instruments the pipeline of one keyed instance: its measurements carry the key as the <c>pipeline.instance</c> tag.</summary>
    internal static TBuilder AddTelemetry<TBuilder>(this TBuilder builder, ResilienceTelemetry? telemetry, string? instanceKey)
        where TBuilder : ResiliencePipelineBuilderBase
    {
        if (builder.Telemetry is not null)
        {
            throw new InvalidOperationException("The pipeline builder already has telemetry.");
        }

        var strategy = new TelemetryStrategy(builder.Name, telemetry ?? ResilienceTelemetry.Default, instanceKey);
        builder.AddOutermost(strategy);
        builder.Telemetry = strategy;
        return builder;
    }
}
