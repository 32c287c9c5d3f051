using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("BedBureau.BedGrain.Tests")]
[assembly: InternalsVisibleTo("Benchmarks")]
