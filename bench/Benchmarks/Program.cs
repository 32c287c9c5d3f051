using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(BedBureau.Benchmarks.WireBenchmarks).Assembly).Run(args);
