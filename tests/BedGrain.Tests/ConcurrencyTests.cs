using System.Collections.Concurrent;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using Xunit.Abstractions;
using static BedBureau.BedGrain.Tests.TestWorld;

namespace BedBureau.BedGrain.Tests;

/// <summary>Seeded, reproducible races: the invariants hold and every acknowledged change is there once.</summary>
public sealed class ConcurrencyTests(ITestOutputHelper output)
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
        var capacity = new CapacityModel();

        // A mailbox that holds every call: each step is really attempted, none shed.
        await using var world = new TestWorld(storage, runtime: new Runtime.GrainRuntimeOptions { MailboxBound = 10_000 }, observer: capacity);
        BedGrainKey[] grains = [CityCardiology, new(DistrictHospital, Cardiology)];
        foreach (var grain in grains)
        {
            await world.OpenCalendarAsync(grain, slots: 3, days: 5);
        }

        var random = new Random(seed);
        var plan = Enumerable.Range(0, 3000).Select(_ => (Op: random.Next(8), Grain: grains[random.Next(2)], Day: random.Next(5), Slots: random.Next(0, 5), Move: random.Next(2) == 0, AnyCode: random.Next(5) == 0)).ToArray();
        var registered = new ConcurrentBag<string>();
        var acknowledged = new ConcurrentDictionary<string, ReferralStatus>();
        var outcomes = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);

        async Task Run((int Op, BedGrainKey Grain, int Day, int Slots, bool Move, bool AnyCode) step, int index)
        {
            var date = world.Today.AddDays(step.Day);

            // Mostly a referral that can still change (a scheduled one to admit), else any.
            var changeable = step.AnyCode ? [] : acknowledged.Where(a => step.Op == 5 ? a.Value == ReferralStatus.Scheduled : a.Value.IsActive()).Select(a => a.Key).ToArray();
            var codes = changeable.Length > 0 ? changeable : registered.ToArray();
            var code = codes.Length == 0 ? null : codes[(index * 7919) % codes.Length];
            var name = step.Op switch { 0 or 1 => "register", 2 => "cancel", 3 => "reschedule", 4 => "schedule", 5 => "admit", 6 => "refuse", _ => "capacity" };
            if (code is null && step.Op is >= 2 and <= 6)
            {
                outcomes.AddOrUpdate($"{name} (no referral yet)", 1, (_, n) => n + 1);
                return;
            }

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
                    case 2:
                        Record(await world.Bureau.CancelAsync(code!, Clinic, $"c{index}", CancellationReason.PatientRequest, ""));
                        break;
                    case 3:
                        Record(await world.Bureau.RescheduleAsync(code!, Clinic, $"m{index}", date, "moved"));
                        break;
                    case 4:
                        Record(await world.Bureau.ScheduleAsync(code!, new Actor(HospitalOf(code!), ActorRole.Hospital), $"d{index}", step.Move ? date : null, "the ward's plan"));
                        break;
                    case 5:
                        Record(await world.Bureau.AdmitAsync(code!, new Actor(HospitalOf(code!), ActorRole.Hospital), $"a{index}", null));
                        break;
                    case 6:
                        Record(await world.Bureau.RefuseAsync(code!, new Actor(HospitalOf(code!), ActorRole.Hospital), $"f{index}", RefusalReason.NoIndications, ""));
                        break;
                    default:
                        await world.Bureau.SetAdmissionCapacityAsync(step.Grain, new Actor(step.Grain.HospitalId, ActorRole.Hospital), $"s{index}", [new(date, step.Slots)]);
                        break;
                }

                outcomes.AddOrUpdate($"{name} OK", 1, (_, n) => n + 1);
            }
            catch (DomainException ex)
            {
                // Refused requests change nothing; the invariants below check that.
                outcomes.AddOrUpdate($"{name} {ex.Reason}", 1, (_, n) => n + 1);
            }
        }

        void Record(ReferralView view) =>
            acknowledged.AddOrUpdate(view.Referral.HospitalizationCode, view.Referral.Status, (_, before) => before.IsActive() ? view.Referral.Status : before);

        // Many calls in flight at once, each choosing its referral when it starts.
        await Parallel.ForEachAsync(Enumerable.Range(0, plan.Length), new ParallelOptions { MaxDegreeOfParallelism = 64 }, async (index, _) => await Run(plan[index], index));

        // Only the refusals a race may cause; and enough of each operation succeeded that the run
        // tested something (a grain refusing everything would keep every invariant).
        string[] expected =
        [
            "register NO_FREE_SLOT", "cancel INVALID_TRANSITION", "reschedule INVALID_TRANSITION", "reschedule UNCHANGED", "reschedule NO_FREE_SLOT",
            "schedule INVALID_TRANSITION", "schedule NO_FREE_SLOT", "admit INVALID_TRANSITION", "refuse INVALID_TRANSITION",
        ];
        var summary = string.Join(", ", outcomes.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{o.Key} {o.Value}"));
        output.WriteLine($"seed {seed}: {summary}; {capacity.ReservationsTaken} reservations taken");
        Assert.All(outcomes.Keys.Where(k => !k.EndsWith(" OK", StringComparison.Ordinal) && !k.EndsWith("(no referral yet)", StringComparison.Ordinal)), k => Assert.Contains(k, expected));
        foreach (var name in new[] { "register", "cancel", "reschedule", "schedule", "admit", "refuse", "capacity" })
        {
            Assert.True(outcomes.GetValueOrDefault($"{name} OK") >= 20, $"too few {name} succeeded: {summary}");
        }

        var attempted = outcomes.Where(o => !o.Key.EndsWith("(no referral yet)", StringComparison.Ordinal)).Sum(o => o.Value);
        Assert.True(outcomes.Where(o => o.Key.EndsWith(" OK", StringComparison.Ordinal)).Sum(o => o.Value) >= attempted / 4, $"under a quarter succeeded: {summary}");

        // Capacity (issue 3): every reservation, taken by a registration or a move, found a free slot
        // under the slots in force when it was committed; now none holds more than its date ever offered.
        Assert.True(capacity.ReservationsTaken >= outcomes.GetValueOrDefault("register OK"));
        Assert.Empty(capacity.Violations);
        foreach (var grain in grains)
        {
            foreach (var day in await world.Bureau.CallAsync(grain, world.Today, static (g, d) => Task.FromResult(g.CalendarFrom(d))))
            {
                Assert.Equal(capacity.Held(grain, day.Date), day.Reserved);
                Assert.True(day.Reserved <= capacity.MaxSlots(grain, day.Date), $"{grain} {day.Date}: {day.Reserved} reserved, at most {capacity.MaxSlots(grain, day.Date)} slots ever");
            }
        }

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

    /// <summary>
    /// Replays each grain's commits in their order (the observer runs inside the grain's turn):
    /// the slots in force and the reservations held per date, independently of the grain's own
    /// counts, so that each reservation can be checked against the slots when it was taken.
    /// </summary>
    private sealed class CapacityModel : IBedGrainObserver
    {
        private readonly ConcurrentDictionary<BedGrainKey, Grain> _grains = new();

        public ConcurrentQueue<string> Violations { get; } = new();

        public int ReservationsTaken => _grains.Values.Sum(g => g.Taken);

        public int Held(BedGrainKey key, DateOnly date) => _grains[key].Held.Values.Count(d => d == date);

        public int MaxSlots(BedGrainKey key, DateOnly date) => _grains[key].MaxSlots.GetValueOrDefault(date);

        public void OnCommitted(BedGrainKey key, BedGrainChange change)
        {
            var grain = _grains.GetOrAdd(key, _ => new Grain());
            foreach (var day in change.Calendar)
            {
                grain.Slots[day.Date] = day.Slots;
                grain.MaxSlots[day.Date] = Math.Max(day.Slots, grain.MaxSlots.GetValueOrDefault(day.Date));
            }

            foreach (var referral in change.Referrals)
            {
                var code = referral.HospitalizationCode;
                var had = grain.Held.TryGetValue(code, out var before);
                if (!referral.Status.IsActive())
                {
                    grain.Held.Remove(code);
                    continue;
                }

                if (!had || before != referral.PlannedDate)
                {
                    var held = grain.Held.Count(h => h.Value == referral.PlannedDate && h.Key != code);
                    var slots = grain.Slots.GetValueOrDefault(referral.PlannedDate);
                    grain.Taken++;
                    if (held >= slots)
                    {
                        Violations.Enqueue($"{key} {referral.PlannedDate}: {code} took a slot while {held} of {slots} were held");
                    }
                }

                grain.Held[code] = referral.PlannedDate;
            }
        }

        private sealed class Grain
        {
            public readonly Dictionary<DateOnly, int> Slots = [];
            public readonly Dictionary<DateOnly, int> MaxSlots = [];
            public readonly Dictionary<string, DateOnly> Held = new(StringComparer.Ordinal);
            public int Taken;
        }
    }

    private static string HospitalOf(string code) => HospitalizationCodes.Parse(code).HospitalId;
}
