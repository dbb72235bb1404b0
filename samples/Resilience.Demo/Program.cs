Console.WriteLine("Resilience demo: the scenario is added with the pipeline engine.");
