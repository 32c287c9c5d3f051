using System.Diagnostics;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Gateway.Sample;

namespace BedBureau.StorageBench;

/// <summary>
/// Start-up recovery at national size: 1,400 hospitals with their profiles and the national
/// sample's active referrals (300,000 by default), registered through the grains into a
/// database kept by name, then the free-bed index and patient rule rebuilt from it the way
/// the gateway starts (Bureau.RecoverAsync), timed. Run twice: the second run only recovers.
/// </summary>
internal static class RecoveryBench
{
    public static async Task RunAsync(Options options)
    {
        var today = WorkingDayCalendar.LocalDate(BenchStorage.Time.GetUtcNow());
        var name = options.Database ?? $"bb_recovery_{options.Referrals}_{today:yyyyMMdd}";
        var sample = NationalDataset.Generate(2026, today, 1400, options.Referrals);
        var directory = BenchStorage.DirectoryOf(sample);
        await using var database = await BenchStorage.CreateAsync(options.Storage, options.Postgres, name);
        var marker = Path.Combine(database.DataDirectory, $"{options.Storage}.seeded");
        if (!File.Exists(marker))
        {
            await using var storage = await database.OpenAsync(options.Settings);
            await using var bureau = BenchStorage.Bureau(directory, storage.Grains);
            var seeding = Stopwatch.StartNew();
            await BenchStorage.SeedCalendarsAsync(bureau, sample);
            var polyclinic = new Actor("PC-75-001", ActorRole.Polyclinic);
            var registered = 0;
            await BenchStorage.ParallelAsync(sample.Referrals.Select((r, i) => (r, i)), 1024, async item =>
            {
                var (referral, index) = item;
                try
                {
                    await bureau.RegisterAsync(new BedGrainKey(referral.HospitalId, referral.ProfileCode), new RegisterReferral(
                        $"sample-{index}", polyclinic, referral.PatientIin, referral.Icd10Code, referral.PlannedDate,
                        referral.Surgical ? TreatmentPurpose.Surgical : TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "", referral.PatientRegionCode));
                    Interlocked.Increment(ref registered);
                }
                catch (DomainException)
                {
                    // The sample's own rule (one patient, one referral per profile) refuses a few pairs.
                }
            });
            Console.WriteLine($"seeded {options.Storage} '{name}': {sample.Hospitals.Count:N0} hospitals, {registered:N0} referrals through the grains in {seeding.Elapsed.TotalSeconds:F1} s ({registered / seeding.Elapsed.TotalSeconds:N0}/s)");
            await File.WriteAllTextAsync(marker, registered.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var started = Stopwatch.StartNew();
        await using (var storage = await database.OpenAsync(options.Settings))
        {
            var opened = started.Elapsed;

            // A durable start first adopts the active referrals no patient row names: all of them
            // on the first durable start after seeding (as on the upgrade), none afterwards.
            var rule = BenchStorage.PatientRule(options.Settings, storage);
            if (rule.Storage is not null)
            {
                var adopting = Stopwatch.StartNew();
                var adopted = await storage.Patients.AdoptActiveReferralsAsync(CancellationToken.None);
                Console.WriteLine($"{rule.Name}: {adopted:N0} active referrals adopted in {adopting.Elapsed.TotalSeconds:F2} s");
            }

            await using var bureau = BenchStorage.Bureau(directory, storage.Grains, rule.Storage);
            var recovering = Stopwatch.StartNew();
            var grains = await bureau.RecoverAsync(CancellationToken.None);
            var recovered = recovering.Elapsed;
            var searching = Stopwatch.StartNew();
            var offers = bureau.FreeBeds.Search(new FreeBedQuery("101", null, today, today.AddDays(30), null, 50));
            Console.WriteLine($"recovery ({options.Storage}): {grains:N0} grains, {bureau.PatientHolds.Count:N0} in-process holds; free-bed index and patient rule rebuilt in {recovered.TotalSeconds:F2} s " +
                $"(+ {opened.TotalSeconds:F2} s opening and migration check); first national search {searching.Elapsed.TotalMilliseconds:F1} ms, {offers.Count} offers");
        }
    }
}
