using Resilience.Examples;

// dotnet run --project samples/Resilience.Examples -- <name> | all   (no argument: list the examples)
return await ExampleRunner.RunAsync(args, Console.Out);
