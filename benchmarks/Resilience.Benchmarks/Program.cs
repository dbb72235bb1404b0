using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

// Run all:   dotnet run -c Release --project benchmarks/Resilience.Benchmarks -- --filter '*'
// Short job: add --job short while iterating; publish figures from the default job.

// Pinned to one processor (--affinity 1), the runtime sees a single processor and waits ten times longer before it
// recompiles hot methods, so a short job can measure code the runtime has not finished compiling. Every benchmark
// process gets the wait of a machine with more processors (the code it ends with is the same), unless the caller
// sets the variable.
const string TieringDelay = "DOTNET_TC_DelaySingleProcMultiplier";
var delay = Environment.GetEnvironmentVariable(TieringDelay) ?? "1";
var config = DefaultConfig.Instance.AddJob(Job.Default.WithEnvironmentVariable(TieringDelay, delay).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
