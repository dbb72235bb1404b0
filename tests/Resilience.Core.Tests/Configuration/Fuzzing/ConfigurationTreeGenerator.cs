namespace Resilience.Tests.Configuration.Fuzzing;

/// <summary>
/// Makes random resilience sections shaped as docs/configuration.md documents them (shared instances of every kind,
/// pipelines listing strategies of every kind by name or by <c>Type</c>, references to shared instances and budgets, every
/// option), some of them perturbed the ways real files go wrong: out-of-range and unconverting values, misspelt options and
/// kinds, values where sections belong and sections where values belong, unknown root sections, named entries where a
/// list belongs, undeclared references, unlisted sections. Perturbations that must be accepted are mixed in too: case
/// differences in keys and types, padded values, sparse list indices, keys whose values are null.
/// </summary>
internal sealed class ConfigurationTreeGenerator
{
    private const string Root = "Resilience";
    private static readonly string[] StrategyKinds = ["CircuitBreaker", "TokenBucket", "ConcurrencyLimiter", "Timeout", "Retry"];
    private static readonly (string Kind, string Section)[] SharedKinds =
        [("CircuitBreaker", "CircuitBreakers"), ("TokenBucket", "TokenBuckets"), ("ConcurrencyLimiter", "ConcurrencyLimiters"), ("RetryBudget", "RetryBudgets")];

    private readonly Random _random;
    private readonly double _invalidChance;

    /// <param name="seed">The seed of every choice.</param>
    /// <param name="invalidChance">The chance of each option's value, and of the tree as a whole, to be perturbed.</param>
    public ConfigurationTreeGenerator(int seed, double invalidChance)
    {
        _random = new Random(seed);
        _invalidChance = invalidChance;
    }

    public ConfigurationTree Next()
    {
        var tree = new ConfigurationTree();
        foreach (var (kind, section) in SharedKinds)
        {
            for (var i = _random.Next(0, 3); i > 0; i--)
            {
                var name = $"{kind.ToLowerInvariant()}{i}";
                var path = $"{Root}:{section}:{name}";

                // A shared instance with no option set at all must still be declared: give it one valid option.
                var wrote = Options(tree, kind, path, $"{kind}/{name}", allowInvalid: true);
                if (!wrote)
                {
                    var (option, valid, _) = Pick(OptionSamples.ByKind[kind]);
                    tree.Set($"{path}:{option}", Pick(valid));
                    tree.Options.Add(new ConfiguredOption($"{kind}/{name}", kind, option, tree.Settings[^1].Value!));
                }

                tree.Shared.Add($"{kind}/{name}");
            }
        }

        for (var p = _random.Next(1, 3); p > 0; p--)
        {
            Pipeline(tree, $"p{p}");
        }

        if (Chance(0.4))
        {
            CodePipeline(tree);
        }

        if (Chance(_invalidChance))
        {
            Perturb(tree);
        }

        if (Chance(0.2))
        {
            // Keys whose value is null are absent: they change nothing.
            tree.Set($"{Root}:Pipelines:p1:Retry:Unset", null);
            tree.Set($"{Root}:Unset:Deep", null);
        }

        return tree;
    }

    private void Pipeline(ConfigurationTree tree, string name)
    {
        // Configuration keys ignore case: the pipeline is still had by its lower-case name.
        var keyName = Chance(0.2) ? name.ToUpperInvariant() : name;
        var path = $"{Root}:Pipelines:{keyName}";
        var strategies = new List<ConfiguredStrategy>();
        var usedShared = new HashSet<string>();
        var sparse = Chance(0.15);
        var count = _random.Next(1, 5);
        for (var i = 0; i < count; i++)
        {
            var kind = Pick(StrategyKinds);
            var section = strategies.Any(s => string.Equals(s.Section, kind, StringComparison.OrdinalIgnoreCase)) || Chance(0.3) ? $"s{i}" : Chance(0.2) ? kind.ToLowerInvariant() : kind;
            var sectionPath = $"{path}:{section}";
            tree.Set($"{path}:Strategies:{(sparse ? i * 3 : i)}", section);
            if (!string.Equals(section, kind, StringComparison.OrdinalIgnoreCase))
            {
                tree.Set($"{sectionPath}:Type", Chance(0.3) ? kind.ToUpperInvariant() : kind);
            }

            var shared = tree.Shared.Where(s => s.StartsWith(kind + "/", StringComparison.Ordinal) && !usedShared.Contains(s)).ToList();
            if (shared.Count > 0 && Chance(0.3))
            {
                var instance = Pick(shared);
                usedShared.Add(instance);
                tree.Set($"{sectionPath}:Shared", instance[(kind.Length + 1)..]);
                strategies.Add(new ConfiguredStrategy(section, kind, instance));
                continue;
            }

            var wrote = Options(tree, kind, sectionPath, $"{name}/{i}", allowInvalid: true);
            if (kind == "Retry" && Chance(0.3))
            {
                var budgets = tree.Shared.Where(s => s.StartsWith("RetryBudget/", StringComparison.Ordinal)).ToList();
                if (budgets.Count > 0)
                {
                    tree.Set($"{sectionPath}:RetryBudget", Pick(budgets)["RetryBudget/".Length..]);
                    wrote = true;
                }
            }

            if (!wrote && section != $"s{i}" && Chance(0.5))
            {
                // A strategy listed with no section at all runs on defaults.
                strategies.Add(new ConfiguredStrategy(section, kind, null));
                continue;
            }

            if (!wrote && section != $"s{i}")
            {
                var (option, valid, _) = Pick(OptionSamples.ByKind[kind]);
                tree.Set($"{sectionPath}:{option}", Pick(valid));
                tree.Options.Add(new ConfiguredOption($"{name}/{i}", kind, option, tree.Settings[^1].Value!));
            }

            strategies.Add(new ConfiguredStrategy(section, kind, null));
        }

        tree.Pipelines[name] = strategies;
    }

    /// <summary>Sets the sections that the code of pipeline <c>code</c> binds, now and then with a mistake of its own.</summary>
    private void CodePipeline(ConfigurationTree tree)
    {
        tree.HasCodePipeline = true;
        var path = $"{Root}:Pipelines:code";
        for (var i = 0; i < ConfigurationTree.CodeSections.Length; i++)
        {
            Options(tree, ConfigurationTree.CodeSections[i].Kind, $"{path}:{ConfigurationTree.CodeSections[i].Section}", $"code/{i}", allowInvalid: true);
        }

        if (Chance(0.25))
        {
            // The pipeline's own cap of keyed instances, next to its sections.
            tree.Set($"{path}:MaxInstances", "50");
        }

        if (!Chance(_invalidChance / 2))
        {
            return;
        }

        switch (_random.Next(4))
        {
            case 3:
                // A cap of keyed instances out of its range.
                tree.Reject($"{path}:MaxInstances", "0", $"{path}:MaxInstances");
                break;
            case 0:
                // A section the code does not bind (misspelt).
                tree.Reject($"{path}:Deadlin:Timeout", "00:00:05", $"{path}:Deadlin");
                break;
            case 1:
                // Strategies for a pipeline whose code decides them.
                tree.Reject($"{path}:Strategies:0", "Retry", $"{path}:Strategies");
                break;
            default:
                // A Type that contradicts what the code binds.
                tree.Reject($"{path}:CircuitBreaker:Type", "Timeout", $"{path}:CircuitBreaker:Type");
                break;
        }
    }

    /// <returns>Whether any option was set.</returns>
    private bool Options(ConfigurationTree tree, string kind, string path, string owner, bool allowInvalid)
    {
        var wrote = false;
        foreach (var (option, valid, invalid) in OptionSamples.ByKind[kind])
        {
            if (!Chance(0.3))
            {
                continue;
            }

            // Keys ignore case: an option spelt in another case is the same option.
            var key = $"{path}:{(Chance(0.15) ? option.ToLowerInvariant() : option)}";
            if (allowInvalid && Chance(_invalidChance / 3))
            {
                tree.Reject(key, Pick(invalid), key);
            }
            else if (tree.Set(key, Pick(valid)))
            {
                tree.Options.Add(new ConfiguredOption(owner, kind, option, tree.Settings[^1].Value!));
            }

            wrote = true;
        }

        return wrote;
    }

    /// <summary>Adds one mistake a reading must reject, naming the key given.</summary>
    private void Perturb(ConfigurationTree tree)
    {
        var pipeline = Pick(tree.Pipelines.Keys.ToList());
        var strategies = tree.Pipelines[pipeline];
        var pipelinePath = tree.Settings.Select(pair => pair.Key).First(key => key.StartsWith($"{Root}:Pipelines:{pipeline}:", StringComparison.OrdinalIgnoreCase));
        pipelinePath = pipelinePath[..(pipelinePath.IndexOf(":Strategies", StringComparison.Ordinal))];
        var index = _random.Next(strategies.Count);
        var strategy = strategies[index];
        var sectionPath = $"{pipelinePath}:{strategy.Section}";
        switch (_random.Next(19))
        {
            case 0 when strategy.Shared is null:
                // A misspelt option.
                var (option, valid, _) = Pick(OptionSamples.ByKind[strategy.Kind]);
                var misspelt = option[..^1] + "x";
                tree.Reject($"{sectionPath}:{misspelt}", Pick(valid), $"{sectionPath}:{misspelt}");
                break;
            case 1:
                // A misspelt kind.
                var typo = strategy.Kind[..^1];
                var renamed = $"{pipelinePath}:Strategies:99";
                tree.Reject(renamed, $"x{index}", renamed);
                tree.Set($"{pipelinePath}:x{index}:Type", typo);
                break;
            case 2 when strategy.Shared is null:
                // A section where a value belongs.
                var (nested, _, _) = Pick(OptionSamples.ByKind[strategy.Kind]);
                tree.Reject($"{sectionPath}:{nested}:Value", "1", $"{sectionPath}:{nested}");
                break;
            case 3:
                // An unknown root section (singular).
                tree.Reject($"{Root}:Pipeline:{pipeline}:Strategies:0", "Retry", $"{Root}:Pipeline");
                break;
            case 4:
                // Named entries where the list belongs.
                tree.Reject($"{pipelinePath}:Strategies:first", strategy.Section, $"{pipelinePath}:Strategies");
                break;
            case 5:
                // A reference to an undeclared shared instance.
                var kindOfShared = Pick(new[] { "CircuitBreaker", "TokenBucket", "ConcurrencyLimiter" });
                var referring = $"{pipelinePath}:Strategies:98";
                tree.Set(referring, "missing");
                tree.Set($"{pipelinePath}:missing:Type", kindOfShared);
                tree.Reject($"{pipelinePath}:missing:Shared", "nobody", $"{pipelinePath}:missing:Shared");
                break;
            case 6:
                // A section not listed.
                tree.Reject($"{pipelinePath}:Fallback:Enabled", "true", $"{pipelinePath}:Fallback");
                break;
            case 7:
                // Deep nesting under an unknown key.
                tree.Reject($"{sectionPath}:Extra:Deeper:Deepest", "1", $"{sectionPath}:Extra");
                break;
            case 8:
                // An empty entry in the list.
                tree.Reject($"{pipelinePath}:Strategies:97", string.Empty, $"{pipelinePath}:Strategies");
                break;
            case 9:
                // A misspelt option of a shared instance.
                tree.Reject($"{Root}:CircuitBreakers:extra:FaillureRatio", "0.5", $"{Root}:CircuitBreakers:extra:FaillureRatio");
                break;
            case 10:
                // A retry budget nobody declares.
                var retry = $"{pipelinePath}:Strategies:96";
                tree.Set(retry, "budgeted");
                tree.Set($"{pipelinePath}:budgeted:Type", "Retry");
                tree.Reject($"{pipelinePath}:budgeted:RetryBudget", "nobody", $"{pipelinePath}:budgeted:RetryBudget");
                break;
            case 12:
                // A section where a list entry belongs.
                tree.Reject($"{pipelinePath}:Strategies:95:Name", "Retry", $"{pipelinePath}:Strategies");
                break;
            case 13:
                // A timeout cannot be shared.
                tree.Set($"{pipelinePath}:Strategies:94", "sharedTimeout");
                tree.Set($"{pipelinePath}:sharedTimeout:Type", "Timeout");
                tree.Reject($"{pipelinePath}:sharedTimeout:Shared", "any", $"{pipelinePath}:sharedTimeout:Shared");
                break;
            case 14 when strategy.Shared is not null:
                // An option beside a reference to a shared instance.
                var (beside, besideValues, _) = Pick(OptionSamples.ByKind[strategy.Kind]);
                tree.Reject($"{sectionPath}:{beside}", Pick(besideValues), $"{sectionPath}:{beside}");
                break;
            case 15:
                // A pipeline given as a value.
                tree.Reject($"{Root}:Pipelines:valued", "Retry", $"{Root}:Pipelines:valued");
                break;
            case 16:
                // A shared instance given as a value.
                tree.Reject($"{Root}:ConcurrencyLimiters:valued", "32", $"{Root}:ConcurrencyLimiters:valued");
                break;
            case 17:
                // A key padded with a space is another key: not an option.
                var (padded, paddedValues, _) = Pick(OptionSamples.ByKind[strategy.Kind]);
                tree.Reject($"{sectionPath}: {padded}", Pick(paddedValues), $"{sectionPath}: {padded}");
                break;
            default:
                // A Type that contradicts a shared section.
                tree.Set($"{Root}:TokenBuckets:typed:Burst", "5");
                tree.Reject($"{Root}:TokenBuckets:typed:Type", "ConcurrencyLimiter", $"{Root}:TokenBuckets:typed:Type");
                break;
        }
    }

    private bool Chance(double probability) => _random.NextDouble() < probability;

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];
}
