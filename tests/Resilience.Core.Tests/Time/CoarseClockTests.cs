using System.Runtime.InteropServices;
using Resilience.Time;

namespace Resilience.Tests.Time;

public class CoarseClockTests
{
    [Fact]
    public void Every_reading_lies_between_the_tick_counts_read_around_it_and_readings_never_go_back()
    {
        long previous = 0;
        for (var i = 0; i < 100_000; i++)
        {
            var before = Environment.TickCount64;
            var reading = i % 2 == 0 ? CoarseClock.Milliseconds : CoarseClock.ReadMilliseconds();
            var after = Environment.TickCount64;

            Assert.InRange(reading, before, after);
            Assert.True(reading >= previous, $"reading {i} went back from {previous} to {reading}");
            previous = reading;
        }
    }

    [Fact]
    public void On_linux_with_the_gnu_c_library_the_clock_calls_the_vdso_directly()
    {
        // The runtime identifier of a glibc Linux build is linux-x64 or linux-arm64 (musl's is linux-musl-*): there the
        // C library names the vDSO, and the direct call must be in use (the benchmark host's saving depends on it).
        var glibcLinux = RuntimeInformation.RuntimeIdentifier is "linux-x64" or "linux-arm64";
        Assert.Equal(glibcLinux, CoarseClock.ReadsVdso);
    }
}
