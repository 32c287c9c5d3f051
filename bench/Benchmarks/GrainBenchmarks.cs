using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using BenchmarkDotNet.Attributes;

namespace BedBureau.Benchmarks;

/// <summary>
/// The grains in-process on a no-op storage: the cost of a grain call, of a reservation and of
/// the floor under it, of a queue position on a 10,000-long queue and of a national free-bed
/// search.
/// dotnet run -c Release --project bench/Benchmarks -- --filter '*Grain*' --job short
/// </summary>
[MemoryDiagnoser]
[GcServer(true)] // as the gateway runs (ASP.NET Core's default): reservations keep what they allocate
public class GrainBenchmarks
{
    private const int ParallelCalls = 10_000;
    private Bureau _bureau = null!;
    private ReferenceDirectory _directory = null!;
    private BedGrainKey[] _keys = null!;
    private string[] _iins = null!;
    private string _queuedCode = null!;
    private BedGrainKey _longQueue;
    private int _round;
    private GrainRuntime<BedGrainKey, SlotOnlyGrain> _slotOnly = null!;

    [GlobalSetup]
    public void Setup()
    {
        _directory = GrainWorld.Directory(hospitals: 1400, profilesPerHospital: 4);
        _bureau = GrainWorld.Bureau(_directory);
        _keys = _directory.Hospitals.Select(h => new BedGrainKey(h.Id, "101")).ToArray();
        _iins = GrainWorld.Iins(ParallelCalls * 40);
        var days = Enumerable.Range(0, 30).Select(d => new CalendarSlots(GrainWorld.Today.AddDays(d), 10_000)).ToArray();
        foreach (var hospital in _directory.Hospitals)
        {
            foreach (var profile in hospital.ProfileCodes)
            {
                _bureau.SetAdmissionCapacityAsync(new BedGrainKey(hospital.Id, profile), new Actor(hospital.Id, ActorRole.Hospital), "cal", days).GetAwaiter().GetResult();
            }
        }

        _slotOnly = new GrainRuntime<BedGrainKey, SlotOnlyGrain>((key, _) => Task.FromResult(new SlotOnlyGrain(GrainWorld.Today, 30, 10_000)), new GrainRuntimeOptions(), TimeProvider.System);

        // One grain with a 10,000-long queue over 30 days; the probe sits in the middle.
        _longQueue = _keys[0];
        for (var i = 0; i < 10_000; i++)
        {
            var code = Register(_longQueue, i, GrainWorld.Today.AddDays(i % 30)).GetAwaiter().GetResult().View.Referral.HospitalizationCode;
            if (i == 5_000)
            {
                _queuedCode = code;
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bureau.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _slotOnly.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private Task<RegistrationResult> Register(BedGrainKey key, int serial, DateOnly planned) =>
        _bureau.RegisterAsync(key, Command(serial, planned));

    private RegisterReferral Command(int serial, DateOnly planned) =>
        new($"r{serial}", new Actor($"PC-{serial % 97}", ActorRole.Polyclinic), _iins[serial], "I20.8", planned,
            TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", "75");

    /// <summary>Baseline: a turn that does nothing, on grains across the country, 10,000 in parallel.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = ParallelCalls)]
    public Task GrainCall() => OnEveryCore(i => _bureau.Grains.CallAsync(_keys[i % _keys.Length], 0, static (grain, _) => Task.FromResult(grain.Version)));

    /// <summary>
    /// Each iteration registers new patients (one active referral per patient and profile) with
    /// new request ids; as a setup, it also makes every iteration one invocation of 10,000 calls,
    /// so the floor is measured as the reservations are.
    /// </summary>
    [IterationSetup(Targets = [nameof(Reservation), nameof(ReservationSequential), nameof(SlotOnlyReservation)])]
    public void NextPatients() => _round = _round % 38 + 1;

    /// <summary>Reservations (RegisterReferral, validation included) across 1,400 grains, 10,000 in parallel.</summary>
    [Benchmark(OperationsPerInvoke = ParallelCalls)]
    public Task Reservation()
    {
        var round = _round;
        return OnEveryCore(i => Register(_keys[1 + i % (_keys.Length - 1)], round * ParallelCalls + i, GrainWorld.Today.AddDays(i % 30)));
    }

    /// <summary>
    /// The floor under any reservation: the same commands and calls as <see cref="Reservation"/>,
    /// to grains that only take a slot of the planned date and keep the request id (no
    /// validation, patient rule, code, keys, queue or answer).
    /// </summary>
    [Benchmark(OperationsPerInvoke = ParallelCalls)]
    public Task SlotOnlyReservation()
    {
        var round = _round;
        return OnEveryCore(i => _slotOnly.CallAsync(_keys[1 + i % (_keys.Length - 1)], Command(round * ParallelCalls + i, GrainWorld.Today.AddDays(i % 30)),
            static (grain, command) => Task.FromResult(grain.Take(command))));
    }

    /// <summary>
    /// Starts the 10,000 calls from one thread per core. A turn on a no-op storage completes
    /// synchronously, so calls started from a single thread would all run on that thread.
    /// </summary>
    private static Task OnEveryCore(Func<int, Task> call)
    {
        var cores = Environment.ProcessorCount;
        var starters = new Task[cores];
        for (var core = 0; core < cores; core++)
        {
            var first = core;
            starters[core] = Task.Run(() =>
            {
                var calls = new List<Task>(ParallelCalls / cores + 1);
                for (var i = first; i < ParallelCalls; i += cores)
                {
                    calls.Add(call(i));
                }

                return Task.WhenAll(calls);
            });
        }

        return Task.WhenAll(starters);
    }

    /// <summary>Reservations one after another on one thread: the cost of one without contention.</summary>
    [Benchmark(OperationsPerInvoke = ParallelCalls)]
    public async Task ReservationSequential()
    {
        var round = _round;
        for (var i = 0; i < ParallelCalls; i++)
        {
            await Register(_keys[1 + i % (_keys.Length - 1)], round * ParallelCalls + i, GrainWorld.Today.AddDays(i % 30));
        }
    }

    /// <summary>A referral's place in a 10,000-long queue, through the grain.</summary>
    [Benchmark]
    public Task<ReferralView> QueuePosition() => _bureau.GetAsync(_queuedCode);

    /// <summary>Free beds nationwide for one profile over 30 days.</summary>
    [Benchmark]
    public IReadOnlyList<FreeBedOffer> NationalSearch() =>
        _bureau.FreeBeds.Search(new FreeBedQuery("101", null, GrainWorld.Today, GrainWorld.Today.AddDays(30), null, 50));
}
