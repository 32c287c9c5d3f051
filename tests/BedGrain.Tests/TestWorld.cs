using System.Security.Cryptography;
using System.Text;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;
using BedBureau.BedGrain.Storage;
using Microsoft.Extensions.Time.Testing;

namespace BedBureau.BedGrain.Tests;

/// <summary>A small bureau for tests: two hospitals, an adult and a child profile, a fake clock.</summary>
public sealed class TestWorld : IAsyncDisposable
{
    public const string CityHospital = "01W9";
    public const string DistrictHospital = "02AB";
    public const string Cardiology = "101";
    public const string Paediatrics = "209";
    public const string Polyclinic = "PC-1";
    public const string OtherPolyclinic = "PC-2";

    // Monday 2 November 2026, 09:00 in Kazakhstan.
    public static readonly DateTimeOffset Start = new(2026, 11, 2, 9, 0, 0, TimeSpan.FromHours(5));

    /// <param name="patients">
    /// The patient grains' storage (the durable patient rule); share one between worlds to act as
    /// two nodes of one bureau. Without it the rule is the process-wide holds of a single node.
    /// </param>
    public TestWorld(
        IBedGrainStorage? storage = null, FakeTimeProvider? time = null, GrainRuntimeOptions? runtime = null, BedGrainOptions? options = null,
        IPatientGrainStorage? patients = null, IBedGrainObserver? observer = null, WorkingDayCalendar? calendar = null)
    {
        Time = time ?? new FakeTimeProvider(Start);
        Storage = storage ?? new InMemoryBedGrainStorage();
        Patients = patients;
        Bureau = new Bureau(Directory, Storage, new TestProtector(), Time, options, runtime, calendar, observer, patients);
    }

    public IPatientGrainStorage? Patients { get; }

    public static ReferenceDirectory Directory { get; } = new(
        [
            new Hospital(CityHospital, "City hospital No. 1", "75", new HashSet<string> { Cardiology, Paediatrics }),
            new Hospital(DistrictHospital, "District hospital", "61", new HashSet<string> { Cardiology }),
        ],
        [new BedProfile(Cardiology, false, "Cardiology"), new BedProfile(Paediatrics, true, "Paediatrics")]);

    public static BedGrainKey CityCardiology { get; } = new(CityHospital, Cardiology);

    public static Actor City { get; } = new(CityHospital, ActorRole.Hospital);

    public static Actor Clinic { get; } = new(Polyclinic, ActorRole.Polyclinic);

    public static Actor OtherClinic { get; } = new(OtherPolyclinic, ActorRole.Polyclinic);

    public FakeTimeProvider Time { get; }

    public IBedGrainStorage Storage { get; }

    public Bureau Bureau { get; }

    public DateOnly Today => WorkingDayCalendar.LocalDate(Time.GetUtcNow());

    private int _requests;

    public string NextRequestId() => $"req-{Interlocked.Increment(ref _requests)}";

    /// <summary>Sets <paramref name="slots"/> admission slots on each of the next <paramref name="days"/> days.</summary>
    public Task OpenCalendarAsync(BedGrainKey key, int slots, int days = 30) =>
        Bureau.SetAdmissionCapacityAsync(key, new Actor(key.HospitalId, ActorRole.Hospital), NextRequestId(),
            Enumerable.Range(0, days).Select(d => new CalendarSlots(Today.AddDays(d), slots)).ToArray());

    /// <summary>Waits (up to 10 s) for what a timer callback of the fake clock set going to finish.</summary>
    public static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(5);
        }
    }

    public Task<RegistrationResult> RegisterAsync(BedGrainKey key, string iin, DateOnly planned, Actor? actor = null, string? requestId = null) =>
        Bureau.RegisterAsync(key, new RegisterReferral(requestId ?? NextRequestId(), actor ?? Clinic, iin, "I20.8", planned,
            TreatmentPurpose.Conservative, FinanceSource.GuaranteedVolume, "Almaty", "75"));

    private static int _serial;

    /// <summary>A valid IIN of someone born on <paramref name="birth"/>, different on each call.</summary>
    public static string Iin(DateOnly birth)
    {
        var century = birth.Year >= 2000 ? 5 : 3;
        while (true)
        {
            var digits = $"{birth:yyMMdd}{century}{Interlocked.Increment(ref _serial) % 10000:D4}";
            for (var check = 0; check < 10; check++)
            {
                if (Identifiers.HasValidCheckDigit(digits + check))
                {
                    return digits + check;
                }
            }
        }
    }

    public static string AdultIin() => Iin(new DateOnly(1970, 5, 17));

    public static string ChildIin() => Iin(new DateOnly(2020, 3, 1));

    public ValueTask DisposeAsync() => Bureau.DisposeAsync();

    /// <summary>Reversible and keyed enough for tests; the gateway's uses AES-GCM and HMAC.</summary>
    public sealed class TestProtector : IPersonalDataProtector
    {
        public string Hash(string value) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("test-key:" + value)));

        public string Protect(string value) => Convert.ToBase64String(Encoding.UTF8.GetBytes(value));

        public string Unprotect(string protectedValue) => Encoding.UTF8.GetString(Convert.FromBase64String(protectedValue));
    }
}
