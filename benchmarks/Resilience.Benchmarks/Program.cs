using BenchmarkDotNet.Running;

// Run all:   dotnet run -c Release --project benchmarks/Resilience.Benchmarks -- --filter '*'
// Short job: add --job short while iterating; publish figures from the default job.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
