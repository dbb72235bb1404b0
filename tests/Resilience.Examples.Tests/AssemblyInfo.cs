// The examples wait on real timers with margins; running them one at a time keeps those margins wide on a small machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
