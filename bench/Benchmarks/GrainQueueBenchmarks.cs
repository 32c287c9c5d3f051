using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BenchmarkDotNet.Attributes;

namespace BedBureau.Benchmarks;

/// <summary>
/// The queue's order-statistic index alone: a position among 10,000 queued referrals over 30
/// days (Fenwick tree over days plus a sorted list per day), and keeping it current.
/// </summary>
[MemoryDiagnoser]
public class GrainQueueIndexBenchmarks
{
    private static readonly DateOnly Today = new(2026, 11, 2);
    private readonly QueueIndex _queue = new();
    private readonly (DateOnly Date, long Sequence)[] _probes = new (DateOnly, long)[1024];
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        for (var sequence = 1; sequence <= 10_000; sequence++)
        {
            _queue.Add(Today.AddDays(random.Next(30)), sequence);
        }

        var queued = _queue.InOrder().ToArray();
        for (var i = 0; i < _probes.Length; i++)
        {
            _probes[i] = queued[random.Next(queued.Length)];
        }
    }

    /// <summary>Position and people ahead of a referral in a 10,000-long queue.</summary>
    [Benchmark]
    public int PositionIn10000()
    {
        var (date, sequence) = _probes[_next++ & 1023];
        return _queue.PositionOf(date, sequence);
    }

    /// <summary>A referral leaving and rejoining the queue (cancel, register).</summary>
    [Benchmark]
    public bool RemoveAndAdd()
    {
        var (date, sequence) = _probes[_next++ & 1023];
        _queue.Remove(date, sequence);
        _queue.Add(date, sequence);
        return true;
    }
}

/// <summary>
/// Reservations when the one-referral-per-patient rule is durable (a multi-node bureau): each
/// goes through the patient's grain (two writes of its hold) before the bed grain.
/// </summary>
[MemoryDiagnoser]
[GcServer(true)] // as the gateway runs (ASP.NET Core's default): reservations keep what they allocate
public class GrainDurablePatientRuleBenchmarks
{
    private const int ParallelCalls = 10_000;
    private Bureau _bureau = null!;
    private BedGrainKey[] _keys = null!;
    private string[] _iins = null!;
    private int _round;

    [GlobalSetup]
    public void Setup()
    {
        var directory = GrainWorld.Directory(hospitals: 1400, profilesPerHospital: 4);
        _bureau = GrainWorld.Bureau(directory, new InMemoryPatientGrainStorage());
        _keys = directory.Hospitals.Select(h => new BedGrainKey(h.Id, "101")).ToArray();
        _iins = GrainWorld.Iins(ParallelCalls * 40);
        var days = Enumerable.Range(0, 30).Select(d => new CalendarSlots(GrainWorld.Today.AddDays(d), 10_000)).ToArray();
        foreach (var key in _keys)
        {
            _bureau.SetAdmissionCapacityAsync(key, new Actor(key.HospitalId, ActorRole.Hospital), "cal", days).GetAwaiter().GetResult();
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _bureau.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [IterationSetup(Target = nameof(ReservationThroughPatientGrain))]
    public void NextPatients() => _round = _round % 38 + 1;

    /// <summary>Reservations across 1,400 grains, 10,000 in parallel, each through its patient grain.</summary>
    [Benchmark(OperationsPerInvoke = ParallelCalls)]
    public Task ReservationThroughPatientGrain()
    {
        var round = _round;
        var calls = new Task<RegistrationResult>[ParallelCalls];
        for (var i = 0; i < calls.Length; i++)
        {
            var serial = round * ParallelCalls + i;
            calls[i] = _bureau.RegisterAsync(_keys[i % _keys.Length], new RegisterReferral($"r{serial}", new Actor($"PC-{serial % 97}", ActorRole.Polyclinic), _iins[serial], "I20.8",
                GrainWorld.Today.AddDays(i % 30), TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", "75"));
        }

        return Task.WhenAll(calls);
    }
}
