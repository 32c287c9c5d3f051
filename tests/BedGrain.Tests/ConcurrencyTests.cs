using System.Collections.Concurrent;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>Seeded, reproducible races: the invariants hold and every acknowledged change is there once.</summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Many_polyclinics_racing_for_few_slots_get_exactly_the_slots()
    {
        await using var world = new TestWorld();
        await world.OpenCalendarAsync(CityCardiology, slots: 10, days: 1);

        var attempts = Enumerable.Range(0, 1000).Select(i => Task.Run(async () =>
        {
            try
            {
                await world.RegisterAsync(CityCardiology, AdultIin(), world.Today, new Actor($"PC-{i}", ActorRole.Polyclinic));
                return "ok";
            }
            catch (DomainException ex)
            {
                return ex.Reason;
            }
        }));
        var outcomes = await Task.WhenAll(attempts);

        Assert.Equal(10, outcomes.Count(o => o == "ok"));
        Assert.Equal(990, outcomes.Count(o => o == "NO_FREE_SLOT"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Random_interleavings_keep_the_invariants_and_each_acknowledged_change_once(int seed)
    {
        var storage = new InMemoryBedGrainStorage();
        await using var world = new TestWorld(storage);
        BedGrainKey[] grains = [CityCardiology, new(DistrictHospital, Cardiology)];
        foreach (var grain in grains)
        {
            await world.OpenCalendarAsync(grain, slots: 3, days: 5);
        }

        var random = new Random(seed);
        var plan = Enumerable.Range(0, 3000).Select(_ => (Op: random.Next(7), Grain: grains[random.Next(2)], Day: random.Next(5), Slots: random.Next(0, 5))).ToArray();
        var registered = new ConcurrentBag<string>();
        var acknowledged = new ConcurrentDictionary<string, ReferralStatus>();

        async Task Run((int Op, BedGrainKey Grain, int Day, int Slots) step, int index)
        {
            var date = world.Today.AddDays(step.Day);
            var codes = registered.ToArray();
            var code = codes.Length == 0 ? null : codes[(index * 7919) % codes.Length];
            try
            {
                switch (step.Op)
                {
                    case 0 or 1:
                        var result = await world.RegisterAsync(step.Grain, AdultIin(), date, requestId: $"r{index}");
                        // Acknowledged before others may pick the code: a change they make then is recorded over it.
                        acknowledged[result.View.Referral.HospitalizationCode] = result.View.Referral.Status;
                        registered.Add(result.View.Referral.HospitalizationCode);
                        break;
                    case 2 when code is not null:
                        Record(await world.Bureau.CancelAsync(code, Clinic, $"c{index}", CancellationReason.PatientRequest, ""));
                        break;
                    case 3 when code is not null:
                        Record(await world.Bureau.RescheduleAsync(code, Clinic, $"m{index}", date, "moved"));
                        break;
                    case 4 when code is not null:
                        Record(await world.Bureau.AdmitAsync(code, new Actor(HospitalOf(code), ActorRole.Hospital), $"a{index}", null));
                        break;
                    case 5 when code is not null:
                        Record(await world.Bureau.RefuseAsync(code, new Actor(HospitalOf(code), ActorRole.Hospital), $"f{index}", RefusalReason.NoIndications, ""));
                        break;
                    case 6:
                        await world.Bureau.SetAdmissionCapacityAsync(step.Grain, new Actor(step.Grain.HospitalId, ActorRole.Hospital), $"s{index}", [new(date, step.Slots)]);
                        break;
                }
            }
            catch (Exception ex) when (ex is DomainException or Runtime.GrainOverloadedException)
            {
                // Refused and shed requests change nothing; the invariants below check that.
            }
        }

        void Record(ReferralView view) =>
            acknowledged.AddOrUpdate(view.Referral.HospitalizationCode, view.Referral.Status, (_, before) => before.IsActive() ? view.Referral.Status : before);

        await Task.WhenAll(plan.Select((step, index) => Task.Run(() => Run(step, index))));

        foreach (var grain in grains)
        {
            Assert.Empty(await world.Bureau.CallAsync(grain, 0, static (g, _) => g.CheckInvariantsAsync()));
            var events = storage.EventsOf(grain);
            Assert.Equal(events.Count, events.Select(e => e.Sequence).Distinct().Count());
            var registrations = events.Where(e => e.Action == "REGISTERED").Select(e => e.HospitalizationCode).ToArray();
            Assert.Equal(registrations.Length, registrations.Distinct().Count());
        }

        // Every acknowledged referral exists, in the state of its last acknowledged change.
        foreach (var (code, status) in acknowledged)
        {
            var stored = storage.StoredReferral(HospitalizationCodes.Parse(code), code);
            Assert.NotNull(stored);
            Assert.True(status.IsActive() == stored.Status.IsActive(), $"{code}: acknowledged {status}, stored {stored.Status} after {string.Join(", ", stored.History.Select(e => $"{e.Action}#{e.Sequence}"))}");
            Assert.Equal(stored.History.Count, stored.History.Select(e => e.Sequence).Distinct().Count());
            if (!status.IsActive())
            {
                Assert.Equal(status, stored.Status);
            }
        }

        Assert.Equal(registered.Count, acknowledged.Count);
    }

    private static string HospitalOf(string code) => HospitalizationCodes.Parse(code).HospitalId;
}
