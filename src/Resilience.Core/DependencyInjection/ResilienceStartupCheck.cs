using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Resilience.DependencyInjection;

/// <summary>
/// Hooks the resilience settings into the host's start-up validation (<c>ValidateOnStart</c>): a host whose settings
/// are invalid fails to start, with every message. Without a host, resolving <see cref="ResiliencePipelineProvider"/>
/// does the same check.
/// </summary>
internal sealed class ResilienceStartupCheck
{
    internal sealed class Validator(IServiceProvider services) : IValidateOptions<ResilienceStartupCheck>
    {
        public ValidateOptionsResult Validate(string? name, ResilienceStartupCheck options)
        {
            try
            {
                services.GetRequiredService<ResiliencePipelineProvider>();
                return ValidateOptionsResult.Success;
            }
            catch (OptionsValidationException exception)
            {
                return ValidateOptionsResult.Fail(exception.Failures);
            }
        }
    }
}
