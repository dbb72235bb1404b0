using Microsoft.Extensions.Configuration;

namespace Resilience.DependencyInjection;

/// <summary>The resilience section set with <see cref="ResilienceBuilder.BindConfiguration"/>.</summary>
/// <param name="Section">The section.</param>
internal sealed record ResilienceConfigurationSource(IConfiguration Section);
