namespace Resilience.Tests.Pipeline;

/// <summary>
/// Who listens to an instrumented run of a scenario: the listeners attached before the call starts, and the toggles made
/// while it is in flight, in order.
/// </summary>
public sealed record ModelListening(bool MeterAtStart, bool ActivityAtStart, ModelToggle[] Toggles)
{
    /// <summary>Whether each listener is attached after each line of a trace of <paramref name="lines"/> lines.</summary>
    public (bool[] Meter, bool[] Activity) After(int lines)
    {
        var meter = new bool[lines];
        var activity = new bool[lines];
        var (meterOn, activityOn) = (MeterAtStart, ActivityAtStart);
        for (var line = 0; line < lines; line++)
        {
            foreach (var toggle in Toggles.Where(toggle => toggle.AfterLine == line))
            {
                if (toggle.Listener == ModelListener.Meter)
                {
                    meterOn = toggle.On;
                }
                else
                {
                    activityOn = toggle.On;
                }
            }

            (meter[line], activity[line]) = (meterOn, activityOn);
        }

        return (meter, activity);
    }

    public override string ToString() =>
        $"meter {(MeterAtStart ? "on" : "off")}, activity {(ActivityAtStart ? "on" : "off")} at start; {string.Join("; ", Toggles.AsEnumerable())}";
}
