using System.Diagnostics;
using System.Diagnostics.Metrics;
using Resilience.Telemetry;
using Resilience.Tests.Telemetry;

namespace Resilience.Tests.Pipeline;

/// <summary>
/// The listeners of one instrumented run: a <see cref="MeterListener"/> on every instrument of one private meter and an
/// <see cref="ActivityListener"/> on the Resilience source, each attached and detached as a <see cref="ModelListening"/>
/// says. Keeps every measurement as an <see cref="ExpectedMeasurement"/> line (a duration as 0: its value is the
/// clock's); the activity events are read from the call's activity.
/// </summary>
internal sealed class ModelListeners : IDisposable
{
    private readonly Meter _meter;
    private readonly List<string> _measurements = [];
    private MeterListener? _meterListener;
    private ActivityListener? _activityListener;

    public ModelListeners(Meter meter, ModelListening listening)
    {
        _meter = meter;
        Set(ModelListener.Meter, listening.MeterAtStart);
        Set(ModelListener.Activity, listening.ActivityAtStart);
    }

    /// <summary>Gets the measurements taken so far.</summary>
    public IReadOnlyList<string> Measurements
    {
        get
        {
            lock (_measurements)
            {
                return [.. _measurements];
            }
        }
    }

    /// <summary>The lines of an activity's events, in order.</summary>
    public static IReadOnlyList<string> EventsOf(Activity activity) =>
        [.. activity.Events.Select(e => ExpectedMeasurement.Event(e.Name, [.. e.Tags.Select(tag => (tag.Key, tag.Value))]))];

    /// <summary>Attaches or detaches <paramref name="listener"/>; asking for what already is does nothing.</summary>
    public void Set(ModelListener listener, bool on)
    {
        if (listener == ModelListener.Meter)
        {
            if (on && _meterListener is null)
            {
                _meterListener = ListenToMeter();
            }
            else if (!on && _meterListener is not null)
            {
                _meterListener.Dispose();
                _meterListener = null;
            }
        }
        else if (on && _activityListener is null)
        {
            _activityListener = new ActivityListener
            {
                ShouldListenTo = static source => source.Name == ResilienceTelemetry.ActivitySourceName,
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            };
            ActivitySource.AddActivityListener(_activityListener);
        }
        else if (!on && _activityListener is not null)
        {
            _activityListener.Dispose();
            _activityListener = null;
        }
    }

    public void Dispose()
    {
        Set(ModelListener.Meter, on: false);
        Set(ModelListener.Activity, on: false);
    }

    private MeterListener ListenToMeter()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, _meter))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Add(instrument, value, tags));
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Add(instrument, value >= 0 && instrument is Histogram<double> ? 0 : value, tags));
        listener.Start();
        return listener;
    }

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new (string, object?)[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            pairs[i] = (tags[i].Key, tags[i].Value);
        }

        lock (_measurements)
        {
            _measurements.Add(ExpectedMeasurement.Of(instrument.Name, value, pairs));
        }
    }
}
