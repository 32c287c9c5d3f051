using BedBureau.BedGrain;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;

using BedBureau.Gateway.Cache;
using BedBureau.Gateway.Grpc;
using BedBureau.Gateway.Sample;
using Microsoft.Extensions.Logging.Abstractions;

namespace BedBureau.StorageBench;

/// <summary>
/// A patient's lookup by code inside the server (what PatientService does after validation and
/// rate limiting): a Redis hit, an in-process hit, and a miss (the grain, then the mapping).
/// </summary>
internal static class LookupBench
{
    public static async Task RunAsync(Options options)
    {
        var clients = options.Clients > 0 ? options.Clients : 16;
        var today = WorkingDayCalendar.LocalDate(BenchStorage.Time.GetUtcNow());
        var sample = NationalDataset.Generate(2026, today, 200, 0);
        await using var bureau = BenchStorage.Bureau(BenchStorage.DirectoryOf(sample), new InMemoryBedGrainStorage());
        await BenchStorage.SeedCalendarsAsync(bureau, sample, slots: 1000);
        var targets = sample.Hospitals.SelectMany(h => h.Profiles.Select(p => (h.Id, p.ProfileCode, sample.BedProfiles.Single(b => b.Code == p.ProfileCode).IsChild))).ToArray();
        var polyclinic = new Actor("PC-75-001", ActorRole.Polyclinic);
        var codes = new List<(string Code, string Key)>();
        var random = new Random(5);
        for (var i = 0; codes.Count < 10_000; i++)
        {
            var (hospital, profile, child) = targets[random.Next(targets.Length)];
            try
            {
                var result = await bureau.RegisterAsync(new BedGrainKey(hospital, profile), new RegisterReferral($"lookup-{i}", polyclinic,
                    NationalDataset.Iin(random, today, child), "K80.1", today.AddDays(1 + random.Next(28)), TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", "75"));
                codes.Add((result.View.Referral.HospitalizationCode, result.AccessKey));
            }
            catch (DomainException)
            {
            }
        }

        Func<Task<PatientLookup>> Load(string code, string key) => async () =>
        {
            var view = await bureau.GetForPatientAsync(code, key);
            return new PatientLookup(ContractMapping.ToQueueStatus(view, view.Referral.HospitalId), view.Referral.AccessKeyHash, view.Referral.Status.IsActive());
        };

        // Entries kept for the whole run, so that hits are hits (the default keeps positions 2 s).
        var cacheOptions = new CacheOptions { PositionMaxAge = TimeSpan.FromMinutes(10), Namespace = $"bbbench{Environment.ProcessId}" };
        Console.WriteLine($"{codes.Count:N0} referrals, {clients} concurrent lookups, {options.Duration.TotalSeconds} s each after 2 s warm-up");

        var (miss, missElapsed, _) = await Latencies.RunAsync(clients, options.Duration, async (_, serial) =>
        {
            var (code, key) = codes[(int)(serial % codes.Count)];
            await Load(code, key)();
            return true;
        });
        Console.WriteLine(miss.Report("miss (grain + mapping, no cache)", missElapsed));

        await using (var inProcess = new LookupCache(cacheOptions, BenchStorage.Time))
        {
            await MeasureAsync("in-process hit", inProcess, codes, Load, clients, options.Duration);
        }

        if (options.Redis is { Length: > 0 } redis)
        {
            // Without the near cache: every hit is a Redis round trip.
            await using (var remote = new LookupCache(cacheOptions with { Redis = redis, NearEntries = 0 }, BenchStorage.Time))
            {
                await remote.StartAsync(NullLogger.Instance);
                await MeasureAsync($"Redis hit ({redis})", remote, codes, Load, clients, options.Duration);
            }

            await using (var near = new LookupCache(cacheOptions with { Redis = redis }, BenchStorage.Time))
            {
                await near.StartAsync(NullLogger.Instance);
                await MeasureAsync($"near-cache hit (Redis behind it, {near.Options.NearEntries:N0} entries)", near, codes, Load, clients, options.Duration);
            }

            // Baseline in the same run: a bare GET of a value of the same size through StackExchange.Redis.
            using var multiplexer = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis);
            var database = multiplexer.GetDatabase();
            var key = $"{cacheOptions.Namespace}:baseline";
            await database.StringSetAsync(key, new byte[300], TimeSpan.FromMinutes(5));
            var (raw, rawElapsed, _) = await Latencies.RunAsync(clients, options.Duration, async (_, _) =>
            {
                await database.StringGetAsync(key);
                return true;
            });
            Console.WriteLine(raw.Report("baseline: bare Redis GET of 300 bytes", rawElapsed));
        }
    }

    private static async Task MeasureAsync(string name, LookupCache cache, List<(string Code, string Key)> codes, Func<string, string, Func<Task<PatientLookup>>> load, int clients, TimeSpan duration)
    {
        foreach (var (code, key) in codes)
        {
            await cache.QueueStatusAsync(code, key, load(code, key));
        }

        await Task.Delay(500);
        var hits = cache.Hits;
        var misses = cache.Misses;
        var (latencies, elapsed, _) = await Latencies.RunAsync(clients, duration, async (_, serial) =>
        {
            var (code, key) = codes[(int)(serial % codes.Count)];
            await cache.QueueStatusAsync(code, key, load(code, key));
            return true;
        });
        var hitRatio = (double)(cache.Hits - hits) / Math.Max(1, cache.Hits - hits + cache.Misses - misses);
        Console.WriteLine(latencies.Report($"{name}, {hitRatio:P1} hits", elapsed));
    }
}
