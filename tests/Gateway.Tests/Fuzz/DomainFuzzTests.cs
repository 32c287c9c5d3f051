using System.Diagnostics;
using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Gateway.ReferenceData;
using BedBureau.Gateway.Sample;
using BedBureau.Gateway.Tests.EndToEnd;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Google.Protobuf;
using Xunit.Abstractions;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;
using AccessKeys = BedBureau.BedGrain.Domain.AccessKeys;
using BedGrainKey = BedBureau.BedGrain.Domain.BedGrainKey;
using Timestamp = Google.Protobuf.WellKnownTypes.Timestamp;

namespace BedBureau.Gateway.Tests.Fuzz;

/// <summary>A gateway of its own: the fuzz test compares the whole state before and after.</summary>
public sealed class DomainFuzzGateway : GatewayFixture
{
    protected override Task<IEnumerable<string>> SettingsAsync() =>
        Task.FromResult<IEnumerable<string>>(["--Sample:Hospitals=6", "--Sample:Referrals=30"]);
}

/// <summary>
/// Domain fuzzing over the real gateway: every RPC of the contract gets requests that are valid
/// but for one field, chosen from a seeded generator (invalid and far calendar dates, IINs with a
/// bad check digit, length or characters, ICD-10 codes, enum values the contract does not have,
/// negative and huge counts, empty and huge repeated fields, huge strings, other organisations'
/// ids). Each must answer INVALID_ARGUMENT naming that field (or NOT_FOUND / PERMISSION_DENIED
/// where that is the right answer), and change nothing: every grain's version, calendar and
/// census, the polyclinics' referrals and the audit trail's OK records are the same afterwards.
/// The valid requests the cases are made from are sent last and must succeed, so each refusal is
/// the mutated field's doing. BEDBUREAU_DOMAIN_FUZZ_SEED and BEDBUREAU_DOMAIN_FUZZ_CASES change
/// the seed and the number of cases.
/// </summary>
public sealed class DomainFuzzTests(DomainFuzzGateway gateway, ITestOutputHelper output) : IClassFixture<DomainFuzzGateway>
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_DOMAIN_FUZZ_SEED"), out var seed) ? seed : 20261123;
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("BEDBUREAU_DOMAIN_FUZZ_CASES"), out var cases) ? cases : 3000;

    private enum Caller
    {
        Hospital,
        Polyclinic,
        Admin,
        Anonymous,
    }

    /// <summary>One bad request: the status it must get and the field its message must name (null: none to name).</summary>
    private sealed record Case(string Mutation, IMessage Request, StatusCode Expected, string? Field);

    private sealed record Mutation(string Name, Func<Target, Case> Make);

    private sealed record Rpc(string Name, Caller Caller, bool Mutates, Func<GrpcChannel, IMessage, Task> Send, Func<Target, IMessage> Valid, IReadOnlyList<Mutation> Mutations);

    /// <summary>What the cases act on: referrals and calendar days made before the run.</summary>
    private sealed record Target(
        Random Random, DateOnly Today, string Hospital, string Profile, string[] Profiles, string OtherHospital, bool Child,
        DateOnly Day, DateOnly OtherDay, RegisterReferralResponse Subject, string RefuseSubject, string CancelSubject,
        RegisterReferralResponse PatientCancelSubject, string OtherPolyclinicsReferral, string OtherHospitalsReferral, string NewIin)
    {
        public T Pick<T>(params T[] values) => values[Random.Next(values.Length)];
    }

    // ---- Values ----------------------------------------------------------------------------------

    private static string Huge(Random r) => new(r.Next(3) switch { 0 => 'x', 1 => '9', _ => 'Ж' }, r.Next(3) switch { 0 => 1_001, 1 => 100_000, _ => 1_000_000 });

    private static string BadCode(Random r) => r.Next(8) switch
    {
        0 => " ",
        1 => "a b",
        2 => new string('A', 33 + r.Next(100)),
        3 => "../etc",
        4 => "КАРД",
        5 => "x\0y",
        6 => "101;--",
        _ => Huge(r),
    };

    private static CalendarDate BadDate(Random r) => r.Next(10) switch
    {
        0 => new CalendarDate { Year = 1999, Month = 12, Day = 31 },
        1 => new CalendarDate { Year = 2101, Month = 1, Day = 1 },
        2 => new CalendarDate { Year = 2027, Month = 2, Day = 29 },
        3 => new CalendarDate { Year = 2026, Month = 4, Day = 31 },
        4 => new CalendarDate { Year = 2026, Month = 13, Day = 1 },
        5 => new CalendarDate { Year = 2026, Month = 0, Day = 10 },
        6 => new CalendarDate { Year = 2026, Month = 12, Day = 0 },
        7 => new CalendarDate { Year = int.MaxValue, Month = int.MinValue, Day = -1 },
        8 => new CalendarDate(),
        _ => new CalendarDate { Year = r.Next(), Month = r.Next(), Day = r.Next() },
    };

    private static Timestamp BadTimestamp(Random r) => r.Next(5) switch
    {
        0 => new Timestamp { Seconds = -62135596800 },
        1 => new Timestamp { Seconds = 253402300799 },
        2 => new Timestamp { Seconds = 1_800_000_000, Nanos = -1 },
        3 => new Timestamp { Seconds = 1_800_000_000, Nanos = 1_000_000_000 },
        _ => new Timestamp { Seconds = long.MinValue + r.Next(), Nanos = int.MaxValue },
    };

    private static int BadCount(Random r, int max) => r.Next(5) switch
    {
        0 => -1,
        1 => int.MinValue,
        2 => int.MaxValue,
        3 => max + 1 + r.Next(1000),
        _ => -r.Next(1, int.MaxValue),
    };

    private static int BadEnum(Random r) => r.Next(3) switch { 0 => -1, 1 => 99, _ => r.Next(100, int.MaxValue) };

    private static string BadPageToken(Random r) => r.Next(5) switch
    {
        0 => "not a token",
        1 => Convert.ToBase64String(BitConverter.GetBytes(-5)),
        2 => "%%%",
        3 => Convert.ToBase64String(BitConverter.GetBytes(5L)), // longer than a token; its first 4 bytes would read as offset 5
        _ => Huge(r),
    };

    /// <summary>IIN and BIN check digit (weights 1..11, then 3..11,1,2); null when the number has none.</summary>
    private static int? CheckDigit(string elevenDigits)
    {
        static int Sum(string d, int[] w) => d.Select((c, i) => (c - '0') * w[i]).Sum() % 11;
        var check = Sum(elevenDigits, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        check = check == 10 ? Sum(elevenDigits, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]) : check;
        return check == 10 ? null : check;
    }

    /// <summary>Eleven digits from <paramref name="make"/> with their valid check digit.</summary>
    private static string WithCheckDigit(Random r, Func<string> make)
    {
        while (true)
        {
            var digits = make();
            if (CheckDigit(digits) is { } check)
            {
                return digits + check;
            }
        }
    }

    private static string BadIin(Target t)
    {
        var r = t.Random;
        var valid = t.NewIin;
        return r.Next(9) switch
        {
            0 => new string('1', r.Next(1, 12)),
            1 => valid + r.Next(10),
            2 => valid[..5] + "O" + valid[6..],
            3 => valid[..11] + " ",
            4 => "٣" + valid[1..], // an Arabic-Indic digit: a digit to char.IsDigit, not to an IIN
            5 => valid[..11] + (char)('0' + ((valid[11] - '0' + 1 + r.Next(9)) % 10)),
            6 => WithCheckDigit(r, () => $"{valid[..6]}{r.Next(7, 10)}{r.Next(10000):D4}"), // century digit 7..9
            7 => WithCheckDigit(r, () => $"90{r.Next(13, 100):D2}01{valid[6..11]}"), // month 13+
            _ => Huge(r),
        };
    }

    private static string BadIcd10(Random r) => r.Next(12) switch
    {
        0 => "I2",
        1 => "I20.",
        2 => "120.8",
        3 => "I20.888",
        4 => "II0.8",
        5 => "I20,8",
        6 => "І20.8", // Cyrillic І
        7 => "I20.8 I21",
        8 => "\u0000",
        9 => "I20-8",
        10 => "  ",
        _ => Huge(r),
    };

    private static int ValidEnumOrUnspecified(Random r, int max) => r.Next(max + 1);

    private static string Gen(Random r) => $"fuzz-{r.Next():x}-{r.Next():x}";

    // ---- The RPCs ----------------------------------------------------------------------------------

    private static Mutation Bad<TRequest>(string name, StatusCode expected, Func<Target, TRequest, string?> apply, Func<Target, IMessage> valid)
        where TRequest : IMessage<TRequest> =>
        new(name, t =>
        {
            var request = (TRequest)valid(t);
            var field = apply(t, request);
            return new Case(name, request, expected, field);
        });

    private static Rpc Unary<TRequest, TResponse>(Method<TRequest, TResponse> method, Caller caller, Func<Target, TRequest> valid, params (string Name, StatusCode Expected, Func<Target, TRequest, string?> Apply)[] mutations)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        IMessage Valid(Target t) => valid(t);
        return new Rpc(method.FullName.TrimStart('/'), caller, AuditTrailMutations.Contains(method.FullName.TrimStart('/')), (c, m) => c.UnaryAsync(method, (TRequest)m),
            Valid, mutations.Select(m => Bad(m.Name, m.Expected, m.Apply, Valid)).ToArray());
    }

    /// <summary>A refused stream is Trailers-Only: reading it throws its status; a live one sends a first message.</summary>
    private static Rpc Streaming<TRequest, TResponse>(Method<TRequest, TResponse> method, Caller caller, Func<Target, TRequest> valid, params (string Name, StatusCode Expected, Func<Target, TRequest, string?> Apply)[] mutations)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        IMessage Valid(Target t) => valid(t);
        return new Rpc(method.FullName.TrimStart('/'), caller, false, async (c, m) =>
        {
            // Headers first; then a refusal throws its status at once, and a live stream either
            // sends a first message or stays open with nothing to say yet (WatchReferrals).
            using var call = c.ServerStreaming(method, (TRequest)m);
            await call.ResponseHeadersAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var next = call.ResponseStream.MoveNext();
            if (await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(1))) == next)
            {
                Assert.True(await next, "the stream ended without a message or a status");
            }
        }, Valid, mutations.Select(m => Bad(m.Name, m.Expected, m.Apply, Valid)).ToArray());
    }

    private static readonly IReadOnlySet<string> AuditTrailMutations = Grpc.AuditTrail.Mutations;

    private const StatusCode Invalid = StatusCode.InvalidArgument;

    private static IEnumerable<(string, StatusCode, Func<Target, TRequest, string?>)> RequestIdCases<TRequest>(Action<TRequest, string> set) =>
    [
        ("request_id empty", Invalid, (t, r) => { set(r, ""); return "request_id"; }),
        ("request_id too long", Invalid, (t, r) => { set(r, new string('r', 129 + t.Random.Next(10_000))); return "request_id"; }),
    ];

    private static IEnumerable<(string, StatusCode, Func<Target, TRequest, string?>)> CodeCases<TRequest>(Action<TRequest, string> set, string? otherOrganisations, StatusCode otherExpected = StatusCode.PermissionDenied)
    {
        yield return ("code malformed", Invalid, (t, r) => { set(r, t.Pick("", "61.01W9.321", "a.b.c.d.e", "61..101.1", "61.01W9.321.72S ", "61.01W9.321.7-2") is var c && t.Random.Next(3) > 0 ? c : BadCode(t.Random)); return "hospitalization_code"; });
        yield return ("code unknown", StatusCode.NotFound, (t, r) => { set(r, t.Random.Next(2) == 0 ? $"75.{t.Hospital}.{t.Profile}.ZZZZ{t.Random.Next(1000)}" : $"75.NOPE{t.Random.Next(100)}.{t.Profile}.1"); return "hospitalization_code"; });
        if (otherOrganisations is not null)
        {
            yield return ("code of another organisation", otherExpected, (t, r) => { set(r, otherOrganisations == "hospital" ? t.OtherHospitalsReferral : t.OtherPolyclinicsReferral); return null; });
        }
    }

    private static BedReport ValidReport(string profile) => new() { BedProfileCode = profile, Total = 30, Occupied = 20, Free = 8, FreeMale = 3, FreeFemale = 4 };

    private static ReportBedsRequest ValidReportBeds(Target t)
    {
        var request = new ReportBedsRequest { RequestId = Gen(t.Random), HospitalId = t.Hospital };
        request.Reports.AddRange(t.Profiles.Select(ValidReport));
        return request;
    }

    /// <summary>A report of the request, at random: a bad one among good ones must not commit the good ones.</summary>
    private static (BedReport Report, string Prefix) AnyReport(Target t, ReportBedsRequest r)
    {
        var i = t.Random.Next(r.Reports.Count);
        return (r.Reports[i], $"reports[{i}].");
    }

    private static readonly Rpc[] Rpcs =
    [
        Unary(Api.ReportBeds, Caller.Hospital, ValidReportBeds,
        [
            .. RequestIdCases<ReportBedsRequest>((r, v) => r.RequestId = v),
            ("hospital_id of another hospital", StatusCode.PermissionDenied, (t, r) => { r.HospitalId = t.Random.Next(2) == 0 ? t.OtherHospital : BadCode(t.Random); return "hospital_id"; }),
            ("reports empty", Invalid, (t, r) => { r.Reports.Clear(); return "reports"; }),
            ("reports over 500", Invalid, (t, r) => { r.Reports.AddRange(Enumerable.Range(0, 501 + t.Random.Next(5000)).Select(_ => ValidReport(t.Profile))); return "reports"; }),
            ("profile twice", Invalid, (t, r) => { r.Reports.Add(ValidReport(t.Profiles[t.Random.Next(t.Profiles.Length)])); return $"reports[{r.Reports.Count - 1}].bed_profile_code"; }),
            ("profile malformed", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.BedProfileCode = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return prefix + "bed_profile_code"; }),
            ("profile not offered", StatusCode.NotFound, (t, r) => { var (report, _) = AnyReport(t, r); report.BedProfileCode = t.Pick("999", "X1", "000"); return "bed_profile_code"; }),
            ("total out of range", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.Total = BadCount(t.Random, 100_000); return prefix + "total"; }),
            ("occupied out of range", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.Occupied = t.Random.Next(2) == 0 ? -1 - t.Random.Next(int.MaxValue) : report.Total + 1 + t.Random.Next(100); return prefix + "occupied"; }),
            ("free out of range", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.Free = t.Random.Next(2) == 0 ? -1 - t.Random.Next(int.MaxValue) : report.Total - report.Occupied + 1 + t.Random.Next(100); return prefix + "free"; }),
            ("free_male negative", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.FreeMale = -1 - t.Random.Next(int.MaxValue); return prefix + "free_male"; }),
            ("free_female negative", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.FreeFemale = -1 - t.Random.Next(int.MaxValue); return prefix + "free_female"; }),
            ("free split over free", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.FreeMale = report.Free; report.FreeFemale = 1 + t.Random.Next(1000); return prefix + "free_male"; }),
            ("reported_at out of range", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.ReportedAt = BadTimestamp(t.Random); return prefix + "reported_at"; }),
            ("reported_at in the future", Invalid, (t, r) => { var (report, prefix) = AnyReport(t, r); report.ReportedAt = Timestamp.FromDateTimeOffset(Start.AddMinutes(6 + t.Random.Next(60 * 24 * 3650))); return prefix + "reported_at"; }),
        ]),
        Unary(Api.SetAdmissionCapacity, Caller.Hospital, t => new SetAdmissionCapacityRequest
        {
            RequestId = Gen(t.Random),
            HospitalId = t.Hospital,
            BedProfileCode = t.Profile,
            Days = { new Contract.V1.AdmissionDay { Date = Date(t.Today.AddDays(70)), Slots = 5 }, new Contract.V1.AdmissionDay { Date = Date(t.Today.AddDays(71)), Slots = 0 } },
        },
        [
            .. RequestIdCases<SetAdmissionCapacityRequest>((r, v) => r.RequestId = v),
            ("hospital_id of another hospital", StatusCode.PermissionDenied, (t, r) => { r.HospitalId = t.OtherHospital; return "hospital_id"; }),
            ("profile malformed", Invalid, (t, r) => { r.BedProfileCode = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "bed_profile_code"; }),
            ("profile not offered", StatusCode.NotFound, (t, r) => { r.BedProfileCode = t.Pick("999", "X1"); return "bed_profile_code"; }),
            ("days empty", Invalid, (t, r) => { r.Days.Clear(); return "days"; }),
            ("days over 366", Invalid, (t, r) => { r.Days.AddRange(Enumerable.Range(0, 366).Select(i => new Contract.V1.AdmissionDay { Date = Date(t.Today.AddDays(i % 80)), Slots = 1 })); return "days"; }),
            ("date invalid", Invalid, (t, r) => { var i = t.Random.Next(r.Days.Count); r.Days[i].Date = BadDate(t.Random); return $"days[{i}].date"; }),
            ("date missing", Invalid, (t, r) => { r.Days[1].Date = null; return "days[1].date"; }),
            ("date in the past", Invalid, (t, r) => { r.Days[0].Date = Date(t.Today.AddDays(-1 - t.Random.Next(3650))); return "days[0].date"; }),
            ("date beyond the horizon", Invalid, (t, r) => { r.Days[1].Date = Date(t.Today.AddDays(91 + t.Random.Next(20_000))); return "days[1].date"; }),
            ("date twice", Invalid, (t, r) => { r.Days[1].Date = r.Days[0].Date; return "days[1].date"; }),
            ("slots out of range", Invalid, (t, r) => { var i = t.Random.Next(r.Days.Count); r.Days[i].Slots = BadCount(t.Random, 10_000); return $"days[{i}].slots"; }),
            ("message over the receive limit", StatusCode.ResourceExhausted, (t, r) => { r.Days.AddRange(Enumerable.Range(0, 400_000).Select(i => new Contract.V1.AdmissionDay { Date = Date(t.Today), Slots = 1 })); return null; }),
        ]),
        Unary(Api.ListQueue, Caller.Hospital, t => new ListQueueRequest { HospitalId = t.Hospital, BedProfileCode = t.Profile, PageSize = 10 },
        [
            ("hospital_id of another hospital", StatusCode.PermissionDenied, (t, r) => { r.HospitalId = t.OtherHospital; return "hospital_id"; }),
            ("profile malformed", Invalid, (t, r) => { r.BedProfileCode = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "bed_profile_code"; }),
            ("profile not offered", StatusCode.NotFound, (t, r) => { r.BedProfileCode = "999"; return "bed_profile_code"; }),
            ("status unspecified", Invalid, (t, r) => { r.Statuses.Add(Contract.V1.ReferralStatus.Registered); r.Statuses.Add(Contract.V1.ReferralStatus.Unspecified); return "statuses"; }),
            ("status not in the contract", Invalid, (t, r) => { r.Statuses.Add((Contract.V1.ReferralStatus)BadEnum(t.Random)); return "statuses"; }),
            ("planned_from invalid", Invalid, (t, r) => { r.PlannedFrom = BadDate(t.Random); return "planned_from"; }),
            ("planned_to invalid", Invalid, (t, r) => { r.PlannedTo = BadDate(t.Random); return "planned_to"; }),
            ("planned_to before planned_from", Invalid, (t, r) => { r.PlannedFrom = Date(t.Today.AddDays(10)); r.PlannedTo = Date(t.Today.AddDays(9 - t.Random.Next(100))); return "planned_to"; }),
            ("page_size out of range", Invalid, (t, r) => { r.PageSize = BadCount(t.Random, 1000); return "page_size"; }),
            ("page_token not issued", Invalid, (t, r) => { r.PageToken = BadPageToken(t.Random); return "page_token"; }),
        ]),
        Unary(Api.Schedule, Caller.Hospital, t => new ScheduleReferralRequest { RequestId = Gen(t.Random), HospitalizationCode = t.Subject.HospitalizationCode },
        [
            .. RequestIdCases<ScheduleReferralRequest>((r, v) => r.RequestId = v),
            .. CodeCases<ScheduleReferralRequest>((r, v) => r.HospitalizationCode = v, "hospital"),
            ("planned_date invalid", Invalid, (t, r) => { r.PlannedDate = BadDate(t.Random); r.Reason = "moved"; return "planned_date"; }),
            ("planned_date in the past", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(-1 - t.Random.Next(3650))); r.Reason = "moved"; return "planned_date"; }),
            ("planned_date outside the calendar", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(t.Random.Next(2) == 0 ? 80 : 91 + t.Random.Next(20_000))); r.Reason = "moved"; return "planned_date"; }),
            ("new date without reason", Invalid, (t, r) => { r.PlannedDate = Date(t.OtherDay); r.Reason = t.Pick("", "  "); return "reason"; }),
            ("reason too long", Invalid, (t, r) => { r.Reason = Huge(t.Random); return "reason"; }),
        ]),
        Unary(Api.Admit, Caller.Hospital, t => new AdmitPatientRequest { RequestId = Gen(t.Random), HospitalizationCode = t.Subject.HospitalizationCode },
        [
            .. RequestIdCases<AdmitPatientRequest>((r, v) => r.RequestId = v),
            .. CodeCases<AdmitPatientRequest>((r, v) => r.HospitalizationCode = v, "hospital"),
            ("admitted_at out of range", Invalid, (t, r) => { r.AdmittedAt = BadTimestamp(t.Random); return "admitted_at"; }),
            ("admitted_at in the future", Invalid, (t, r) => { r.AdmittedAt = Timestamp.FromDateTimeOffset(Start.AddMinutes(6 + t.Random.Next(60 * 24 * 3650))); return "admitted_at"; }),
            ("admitted_at before registration", Invalid, (t, r) => { r.AdmittedAt = Timestamp.FromDateTimeOffset(Start.AddMinutes(-1 - t.Random.Next(60 * 24 * 3650))); return "admitted_at"; }),
        ]),
        Unary(Api.Refuse, Caller.Hospital, t => new RefusePatientRequest { RequestId = Gen(t.Random), HospitalizationCode = t.RefuseSubject, Reason = RefusalReason.NoIndications },
        [
            .. RequestIdCases<RefusePatientRequest>((r, v) => r.RequestId = v),
            .. CodeCases<RefusePatientRequest>((r, v) => r.HospitalizationCode = v, "hospital"),
            ("reason unspecified", Invalid, (t, r) => { r.Reason = RefusalReason.Unspecified; return "reason"; }),
            ("reason not in the contract", Invalid, (t, r) => { r.Reason = (RefusalReason)BadEnum(t.Random); return "reason"; }),
            ("other without text", Invalid, (t, r) => { r.Reason = RefusalReason.Other; r.ReasonText = t.Pick("", " ", "\t"); return "reason_text"; }),
            ("reason_text too long", Invalid, (t, r) => { r.ReasonText = Huge(t.Random); return "reason_text"; }),
        ]),
        Streaming(Api.WatchReferrals, Caller.Hospital, t => new WatchReferralsRequest { HospitalId = t.Hospital },
        [
            ("hospital_id of another hospital", StatusCode.PermissionDenied, (t, r) => { r.HospitalId = t.OtherHospital; return "hospital_id"; }),
            ("resume_token not issued", Invalid, (t, r) => { r.ResumeToken = t.Pick("%%%", "bm90IGEgdG9rZW4", Convert.ToBase64String("101:-1"u8), Convert.ToBase64String("101:99999999999999999999"u8), Huge(t.Random)); return "resume_token"; }),
        ]),
        Unary(Api.Search, Caller.Polyclinic, t => new SearchFreeBedsRequest { BedProfileCode = t.Profile, RegionCode = "75", DateFrom = Date(t.Today), DateTo = Date(t.Today.AddDays(30)), MaxResults = 20 },
        [
            ("profile malformed", Invalid, (t, r) => { r.BedProfileCode = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "bed_profile_code"; }),
            ("profile unknown", StatusCode.NotFound, (t, r) => { r.BedProfileCode = t.Pick("999", "X1"); return "bed_profile_code"; }),
            ("region unknown", Invalid, (t, r) => { r.RegionCode = t.Pick("7", "00", "99", "ab", "75 ", Huge(t.Random)); return "region_code"; }),
            ("date_from invalid", Invalid, (t, r) => { r.DateFrom = BadDate(t.Random); return "date_from"; }),
            ("date_to invalid", Invalid, (t, r) => { r.DateTo = BadDate(t.Random); return "date_to"; }),
            ("date_to before date_from", Invalid, (t, r) => { r.DateTo = Date(t.Today.AddDays(-1 - t.Random.Next(3000))); return "date_to"; }),
            ("range over 366 days", Invalid, (t, r) => { r.DateTo = Date(t.Today.AddDays(367 + t.Random.Next(20_000))); return "date_to"; }),
            ("max_results out of range", Invalid, (t, r) => { r.MaxResults = BadCount(t.Random, 500); return "max_results"; }),
        ]),
        Unary(Api.Register, Caller.Polyclinic, t => new RegisterReferralRequest
        {
            RequestId = Gen(t.Random),
            PatientIin = t.NewIin,
            Icd10Code = "I20.8",
            BedProfileCode = t.Profile,
            HospitalId = t.Hospital,
            PlannedDate = Date(t.Day),
            Purpose = TreatmentPurpose.Surgical,
            FinanceSource = FinanceSource.GuaranteedVolume,
            PatientRegionCode = "75",
            PatientLocality = "Almaty",
        },
        [
            .. RequestIdCases<RegisterReferralRequest>((r, v) => r.RequestId = v),
            ("iin missing", Invalid, (t, r) => { r.PatientIin = ""; return "patient_iin"; }),
            ("iin invalid", Invalid, (t, r) => { r.PatientIin = BadIin(t); return "patient_iin"; }),
            ("iin born after the planned date", Invalid, (t, r) => { r.PatientIin = WithCheckDigit(t.Random, () => $"{t.Day.AddDays(1 + t.Random.Next(300)):yyMMdd}5{t.Random.Next(10000):D4}"); return "patient_iin"; }),
            ("icd10 missing", Invalid, (t, r) => { r.Icd10Code = ""; return "icd10_code"; }),
            ("icd10 invalid", Invalid, (t, r) => { r.Icd10Code = BadIcd10(t.Random); return "icd10_code"; }),
            ("profile malformed", Invalid, (t, r) => { r.BedProfileCode = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "bed_profile_code"; }),
            ("profile not offered", StatusCode.NotFound, (t, r) => { r.BedProfileCode = t.Pick("999", "X1"); return "bed_profile_code"; }),
            ("hospital malformed", Invalid, (t, r) => { r.HospitalId = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "hospital_id"; }),
            ("hospital unknown", StatusCode.NotFound, (t, r) => { r.HospitalId = $"NOPE{t.Random.Next(1000)}"; return "hospital_id"; }),
            ("planned_date missing", Invalid, (t, r) => { r.PlannedDate = null; return "planned_date"; }),
            ("planned_date invalid", Invalid, (t, r) => { r.PlannedDate = BadDate(t.Random); return "planned_date"; }),
            ("planned_date in the past", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(-1 - t.Random.Next(3650))); return "planned_date"; }),
            ("planned_date outside the calendar", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(t.Random.Next(2) == 0 ? 80 : 91 + t.Random.Next(20_000))); return "planned_date"; }),
            ("purpose unspecified", Invalid, (t, r) => { r.Purpose = TreatmentPurpose.Unspecified; return "purpose"; }),
            ("purpose not in the contract", Invalid, (t, r) => { r.Purpose = (TreatmentPurpose)BadEnum(t.Random); return "purpose"; }),
            ("finance_source not in the contract", Invalid, (t, r) => { r.FinanceSource = (FinanceSource)BadEnum(t.Random); return "finance_source"; }),
            ("locality too long", Invalid, (t, r) => { r.PatientLocality = Huge(t.Random); return "patient_locality"; }),
            ("region invalid", Invalid, (t, r) => { r.PatientRegionCode = t.Pick("", "7", "99", "00", "ab", "७५", Huge(t.Random)); return "patient_region_code"; }),
            ("message over the receive limit", StatusCode.ResourceExhausted, (t, r) => { r.PatientLocality = new string('x', 4 * 1024 * 1024 + 1); return null; }),
        ]),
        Unary(Api.GetReferral, Caller.Polyclinic, t => new GetReferralRequest { HospitalizationCode = t.Subject.HospitalizationCode },
        [
            .. CodeCases<GetReferralRequest>((r, v) => r.HospitalizationCode = v, "polyclinic"),
        ]),
        Unary(Api.Cancel, Caller.Polyclinic, t => new CancelReferralRequest { RequestId = Gen(t.Random), HospitalizationCode = t.CancelSubject, Reason = CancellationReason.PatientRequest },
        [
            .. RequestIdCases<CancelReferralRequest>((r, v) => r.RequestId = v),
            .. CodeCases<CancelReferralRequest>((r, v) => r.HospitalizationCode = v, "polyclinic"),
            ("reason unspecified", Invalid, (t, r) => { r.Reason = CancellationReason.Unspecified; return "reason"; }),
            ("reason not in the contract", Invalid, (t, r) => { r.Reason = (CancellationReason)BadEnum(t.Random); return "reason"; }),
            ("other without text", Invalid, (t, r) => { r.Reason = CancellationReason.Other; r.ReasonText = t.Pick("", " "); return "reason_text"; }),
            ("reason_text too long", Invalid, (t, r) => { r.ReasonText = Huge(t.Random); return "reason_text"; }),
        ]),
        Unary(Api.Reschedule, Caller.Polyclinic, t => new RescheduleReferralRequest { RequestId = Gen(t.Random), HospitalizationCode = t.Subject.HospitalizationCode, PlannedDate = Date(t.OtherDay), Reason = "patient asked" },
        [
            .. RequestIdCases<RescheduleReferralRequest>((r, v) => r.RequestId = v),
            .. CodeCases<RescheduleReferralRequest>((r, v) => r.HospitalizationCode = v, "polyclinic"),
            ("planned_date missing", Invalid, (t, r) => { r.PlannedDate = null; return "planned_date"; }),
            ("planned_date invalid", Invalid, (t, r) => { r.PlannedDate = BadDate(t.Random); return "planned_date"; }),
            ("planned_date unchanged", Invalid, (t, r) => { r.PlannedDate = Date(t.Day); return "planned_date"; }),
            ("planned_date in the past", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(-1 - t.Random.Next(3650))); return "planned_date"; }),
            ("planned_date outside the calendar", Invalid, (t, r) => { r.PlannedDate = Date(t.Today.AddDays(t.Random.Next(2) == 0 ? 80 : 91 + t.Random.Next(20_000))); return "planned_date"; }),
            ("reason too long", Invalid, (t, r) => { r.Reason = Huge(t.Random); return "reason"; }),
        ]),
        Unary(Api.ListReferrals, Caller.Polyclinic, t => new ListReferralsRequest { PageSize = 10 },
        [
            ("status unspecified", Invalid, (t, r) => { r.Statuses.Add(Contract.V1.ReferralStatus.Unspecified); return "statuses"; }),
            ("status not in the contract", Invalid, (t, r) => { r.Statuses.Add((Contract.V1.ReferralStatus)BadEnum(t.Random)); return "statuses"; }),
            ("page_size out of range", Invalid, (t, r) => { r.PageSize = BadCount(t.Random, 1000); return "page_size"; }),
            ("page_token not issued", Invalid, (t, r) => { r.PageToken = BadPageToken(t.Random); return "page_token"; }),
        ]),
        Unary(Api.QueueStatus, Caller.Anonymous, t => new GetQueueStatusRequest { HospitalizationCode = t.Subject.HospitalizationCode, AccessKey = t.Subject.AccessKey },
        [
            ("code malformed", Invalid, (t, r) => { r.HospitalizationCode = t.Random.Next(3) == 0 ? "" : BadCode(t.Random); return "hospitalization_code"; }),
            ("code unknown", StatusCode.NotFound, (t, r) => { r.HospitalizationCode = $"75.{t.Hospital}.{t.Profile}.ZZZZ{t.Random.Next(1000)}"; return null; }),
            ("access_key malformed", Invalid, (t, r) => { r.AccessKey = t.Pick("", "   ", new string('K', 33 + t.Random.Next(1000)), Huge(t.Random)); return "access_key"; }),
            ("access_key wrong", StatusCode.NotFound, (t, r) => { r.AccessKey = AccessKeys.Generate(); return null; }),
            ("access_key of another referral", StatusCode.NotFound, (t, r) => { r.HospitalizationCode = t.OtherPolyclinicsReferral; return null; }),
        ]),
        Streaming(Api.WatchQueueStatus, Caller.Anonymous, t => new WatchQueueStatusRequest { HospitalizationCode = t.Subject.HospitalizationCode, AccessKey = t.Subject.AccessKey },
        [
            ("code malformed", Invalid, (t, r) => { r.HospitalizationCode = t.Random.Next(3) == 0 ? "" : BadCode(t.Random); return "hospitalization_code"; }),
            ("access_key malformed", Invalid, (t, r) => { r.AccessKey = t.Pick("", new string('K', 33 + t.Random.Next(1000))); return "access_key"; }),
            ("access_key wrong", StatusCode.NotFound, (t, r) => { r.AccessKey = AccessKeys.Generate(); return null; }),
        ]),
        Unary(Api.PatientCancel, Caller.Anonymous, t => new PatientServiceCancelReferralRequest
        {
            RequestId = Gen(t.Random),
            HospitalizationCode = t.PatientCancelSubject.HospitalizationCode,
            AccessKey = t.PatientCancelSubject.AccessKey,
            Reason = CancellationReason.HealthImproved,
        },
        [
            .. RequestIdCases<PatientServiceCancelReferralRequest>((r, v) => r.RequestId = v),
            ("code malformed", Invalid, (t, r) => { r.HospitalizationCode = t.Random.Next(3) == 0 ? "" : BadCode(t.Random); return "hospitalization_code"; }),
            ("code unknown", StatusCode.NotFound, (t, r) => { r.HospitalizationCode = $"75.{t.Hospital}.{t.Profile}.ZZZZ{t.Random.Next(1000)}"; return null; }),
            ("access_key malformed", Invalid, (t, r) => { r.AccessKey = t.Pick("", "   ", new string('K', 33 + t.Random.Next(1000)), Huge(t.Random)); return "access_key"; }),
            ("access_key wrong", StatusCode.NotFound, (t, r) => { r.AccessKey = AccessKeys.Generate(); return null; }),
            ("access_key of another referral", StatusCode.NotFound, (t, r) => { r.HospitalizationCode = t.OtherPolyclinicsReferral; return null; }),
            ("reason unspecified", Invalid, (t, r) => { r.Reason = CancellationReason.Unspecified; return "reason"; }),
            ("reason not in the contract", Invalid, (t, r) => { r.Reason = (CancellationReason)BadEnum(t.Random); return "reason"; }),
            ("other without text", Invalid, (t, r) => { r.Reason = CancellationReason.Other; r.ReasonText = t.Pick("", " "); return "reason_text"; }),
            ("reason_text too long", Invalid, (t, r) => { r.ReasonText = Huge(t.Random); return "reason_text"; }),
        ]),
        Unary(Api.ListRegions, Caller.Anonymous, t => new ListRegionsRequest(),
        [
            // No fields: an unknown one (a newer client's) is skipped, as proto3 says.
            ("unknown field", StatusCode.OK, (t, r) => { r.MergeFrom(new ListHospitalsRequest { RegionCode = "75", PageSize = 5 }.ToByteArray()); return null; }),
        ]),
        Unary(Api.ListBedProfiles, Caller.Anonymous, t => new ListBedProfilesRequest { AgeGroup = AgeGroup.Child },
        [
            ("age_group not in the contract", Invalid, (t, r) => { r.AgeGroup = (AgeGroup)BadEnum(t.Random); return "age_group"; }),
        ]),
        Unary(Api.ListHospitals, Caller.Anonymous, t => new ListHospitalsRequest { RegionCode = "75", PageSize = 5 },
        [
            ("region unknown", Invalid, (t, r) => { r.RegionCode = t.Pick("7", "00", "99", "ab", Huge(t.Random)); return "region_code"; }),
            ("profile malformed", Invalid, (t, r) => { r.BedProfileCode = BadCode(t.Random); return "bed_profile_code"; }),
            ("profile unknown", StatusCode.NotFound, (t, r) => { r.BedProfileCode = t.Pick("999", "X1"); return "bed_profile_code"; }),
            ("page_size out of range", Invalid, (t, r) => { r.PageSize = BadCount(t.Random, 1000); return "page_size"; }),
            ("page_token not issued", Invalid, (t, r) => { r.PageToken = BadPageToken(t.Random); return "page_token"; }),
        ]),
        Unary(Api.GetHospital, Caller.Anonymous, t => new GetHospitalRequest { HospitalId = t.Hospital },
        [
            ("hospital malformed", Invalid, (t, r) => { r.HospitalId = t.Random.Next(4) == 0 ? "" : BadCode(t.Random); return "hospital_id"; }),
            ("hospital unknown", StatusCode.NotFound, (t, r) => { r.HospitalId = $"NOPE{t.Random.Next(1000)}"; return "hospital_id"; }),
        ]),
        Unary(Api.ListAudit, Caller.Admin, t => new ListAuditRecordsRequest { PageSize = 5, From = Timestamp.FromDateTimeOffset(Start.AddDays(-1)) },
        [
            ("page_size out of range", Invalid, (t, r) => { r.PageSize = BadCount(t.Random, 1000); return "page_size"; }),
            ("page_token not issued", Invalid, (t, r) => { r.PageToken = t.Pick("%%%", Convert.ToBase64String(BitConverter.GetBytes(-5L)), Convert.ToBase64String([1, 2, 3]), Huge(t.Random)); return "page_token"; }),
            ("from out of range", Invalid, (t, r) => { r.From = BadTimestamp(t.Random); return "from"; }),
            ("to out of range", Invalid, (t, r) => { r.To = BadTimestamp(t.Random); return "to"; }),
            ("to before from", Invalid, (t, r) => { r.To = Timestamp.FromDateTimeOffset(Start.AddDays(-2 - t.Random.Next(3000))); return "to"; }),
        ]),
        Unary(Api.HealthCheck, Caller.Anonymous, t => new HealthCheckRequest { Service = "bedbureau.v1.ReferralService" },
        [
            ("service unknown", StatusCode.NotFound, (t, r) => { r.Service = t.Pick("nope", "bedbureau.v1.Nope", Huge(t.Random)); return null; }),
        ]),
        Streaming(Api.HealthWatch, Caller.Anonymous, t => new HealthCheckRequest { Service = "" },
        [
            // health-checking.md: Watch of an unknown service answers SERVICE_UNKNOWN on a live stream, not an error.
            ("service unknown", StatusCode.OK, (t, r) => { r.Service = t.Pick("nope", Huge(t.Random)); return null; }),
        ]),
    ];

    [Fact]
    public void Every_rpc_the_gateway_serves_has_fuzz_cases()
    {
        var served = GatewayApp.ContractServices.Append(HealthReflection.Descriptor.Services[0])
            .SelectMany(s => s.Methods.Select(m => $"{s.FullName}/{m.Name}"));

        Assert.Equal(served.Order(StringComparer.Ordinal), Rpcs.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.All(Rpcs, r => Assert.NotEmpty(r.Mutations));
    }

    [Fact]
    public async Task Every_field_of_every_rpc_refuses_bad_values_naming_the_field_and_changes_nothing()
    {
        var target = await PrepareAsync();
        var channels = new Dictionary<Caller, GrpcChannel>
        {
            [Caller.Hospital] = gateway.ChannelFor(gateway.Hospital(0)),
            [Caller.Polyclinic] = gateway.ChannelFor(gateway.Polyclinic(0)),
            [Caller.Admin] = gateway.ChannelFor(gateway.Admin),
            [Caller.Anonymous] = GrpcChannel.ForAddress(gateway.GrpcAddress),
        };
        try
        {
            var before = await SnapshotAsync();
            var auditBefore = await AuditCountAsync();

            // Every mutation once, then random ones: each case is made from the seed and its index alone.
            var all = Rpcs.SelectMany(r => r.Mutations.Select(m => (Rpc: r, Mutation: m))).ToArray();
            var plan = Enumerable.Range(0, Math.Max(Cases, all.Length)).Select(i =>
            {
                var random = new Random(unchecked((Seed * 1_000_003) + i)); // not HashCode: it is salted per process
                var (rpc, mutation) = i < all.Length ? all[i] : all[random.Next(all.Length)];
                return (Index: i, Rpc: rpc, Mutation: mutation, Random: random);
            }).ToArray();

            var clock = Stopwatch.StartNew();
            var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (step, _) =>
            {
                // Made here, not up front: some cases hold megabytes.
                var @case = step.Mutation.Make(target with { Random = step.Random });
                var (code, detail) = await OutcomeAsync(() => step.Rpc.Send(channels[step.Rpc.Caller], @case.Request));
                if (code != @case.Expected || (@case.Field is { } field && !Names(detail, field)))
                {
                    failures.Add($"#{step.Index} {step.Rpc.Name} [{@case.Mutation}]: expected {@case.Expected} naming {@case.Field ?? "-"}, got {code} {Clip(detail)}");
                }
            });
            clock.Stop();

            var mutating = plan.Count(p => p.Rpc.Mutates);
            output.WriteLine($"seed {Seed}: {plan.Length} cases ({all.Length} kinds of bad value over {Rpcs.Length} RPCs, {mutating} against mutating RPCs) in {clock.ElapsedMilliseconds} ms, {failures.Count} failed");
            foreach (var failure in failures.Take(40))
            {
                output.WriteLine(failure);
            }

            Assert.Empty(failures);

            // Nothing changed: the grains, the referrals and the audit trail's OK records are as they were;
            // each refused mutation left exactly one record of its refusal.
            Assert.Equal(before, await SnapshotAsync());
            var auditAfter = await AuditCountAsync();
            Assert.Equal(auditBefore.Ok, auditAfter.Ok);
            Assert.Equal(auditBefore.All + mutating, auditAfter.All);

            // The valid requests the cases were made from succeed, so each refusal was the bad field's.
            foreach (var (rpc, i) in Rpcs.Select((r, i) => (r, i)).OrderBy(x => ValidOrder(x.r.Name)))
            {
                var (code, detail) = await OutcomeAsync(() => rpc.Send(channels[rpc.Caller], rpc.Valid(target with { Random = new Random(Seed + i) })));
                Assert.True(code == StatusCode.OK, $"{rpc.Name}: the valid request got {code} {detail}");
            }
        }
        finally
        {
            foreach (var channel in channels.Values)
            {
                channel.Dispose();
            }
        }
    }

    /// <summary>The subject is moved by the polyclinic, confirmed by the hospital (admission needs it), then admitted last (admission ends it).</summary>
    private static int ValidOrder(string rpc) => rpc switch
    {
        _ when rpc.EndsWith("/RescheduleReferral", StringComparison.Ordinal) => 1,
        _ when rpc.EndsWith("/ScheduleReferral", StringComparison.Ordinal) => 2,
        _ when rpc.EndsWith("/AdmitPatient", StringComparison.Ordinal) => 3,
        _ => 0,
    };

    /// <summary>"[REASON] field: why", or the field further in ("... hospital_id: ...").</summary>
    private static bool Names(string detail, string field) =>
        detail.StartsWith('[') && (detail.Contains($"] {field}:", StringComparison.Ordinal) || detail.Contains($" {field}:", StringComparison.Ordinal));

    private static string Clip(string text) => text.Length <= 200 ? text : text[..200] + "...";

    private static async Task<(StatusCode Code, string Detail)> OutcomeAsync(Func<Task> call)
    {
        try
        {
            await call();
            return (StatusCode.OK, "");
        }
        catch (RpcException ex)
        {
            return (ex.StatusCode, ex.Status.Detail);
        }
    }

    private async Task<Target> PrepareAsync()
    {
        var hospital = gateway.Hospital(0).organization_id;
        var other = gateway.Hospital(1).organization_id;
        var info = await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = hospital });
        var profile = info.Hospital.BedProfileCodes[0];
        var child = ReferenceCatalog.BedProfiles.Single(p => p.Code == profile).IsChild;
        var day = gateway.Today.AddDays(40);
        var otherDay = gateway.Today.AddDays(41);

        async Task OpenAsync(int hospitalIndex, string id, string bedProfile)
        {
            using var channel = gateway.ChannelFor(gateway.Hospital(hospitalIndex));
            await channel.UnaryAsync(Api.SetAdmissionCapacity, new SetAdmissionCapacityRequest
            {
                RequestId = Guid.NewGuid().ToString(),
                HospitalId = id,
                BedProfileCode = bedProfile,
                Days = { new Contract.V1.AdmissionDay { Date = Date(day), Slots = 50 }, new Contract.V1.AdmissionDay { Date = Date(otherDay), Slots = 50 } },
            });
        }

        await OpenAsync(0, hospital, profile);
        var otherProfile = (await gateway.Anonymous.UnaryAsync(Api.GetHospital, new GetHospitalRequest { HospitalId = other })).Hospital.BedProfileCodes[0];
        await OpenAsync(1, other, otherProfile);

        var random = new Random(Seed);
        async Task<RegisterReferralResponse> RegisterAsync(int polyclinic, string id, string bedProfile)
        {
            var isChild = ReferenceCatalog.BedProfiles.Single(p => p.Code == bedProfile).IsChild;
            using var channel = gateway.ChannelFor(gateway.Polyclinic(polyclinic));
            return await channel.UnaryAsync(Api.Register, Scenario.Registration(gateway, id, bedProfile, NationalDataset.Iin(random, day, isChild), inDays: 40));
        }

        // Confirmed by the hospital, so that admission reaches the fields it checks (only a SCHEDULED referral is admitted).
        var subject = await RegisterAsync(0, hospital, profile);
        using (var own = gateway.ChannelFor(gateway.Hospital(0)))
        {
            await own.UnaryAsync(Api.Schedule, new ScheduleReferralRequest { RequestId = Guid.NewGuid().ToString(), HospitalizationCode = subject.HospitalizationCode });
        }

        return new Target(
            random, gateway.Today, hospital, profile, info.Hospital.BedProfileCodes.ToArray(), other, child, day, otherDay, subject,
            RefuseSubject: (await RegisterAsync(0, hospital, profile)).HospitalizationCode,
            CancelSubject: (await RegisterAsync(0, hospital, profile)).HospitalizationCode,
            PatientCancelSubject: await RegisterAsync(0, hospital, profile),
            OtherPolyclinicsReferral: (await RegisterAsync(1, hospital, profile)).HospitalizationCode,
            OtherHospitalsReferral: (await RegisterAsync(0, other, otherProfile)).HospitalizationCode,
            NewIin: NationalDataset.Iin(random, day, child));
    }

    /// <summary>Every grain's version, calendar and census, and every referral the polyclinics see, as text.</summary>
    private async Task<string> SnapshotAsync()
    {
        var host = gateway.Service<BureauHost>();
        var lines = new List<string>();
        foreach (var hospital in host.Hospitals.Values.OrderBy(h => h.Id, StringComparer.Ordinal))
        {
            foreach (var profile in hospital.ProfileCodes)
            {
                lines.Add(await host.Bureau.CallAsync(new BedGrainKey(hospital.Id, profile), gateway.Today, static (grain, today) =>
                    Task.FromResult($"{grain.Key} v{grain.Version} {grain.Census} [{string.Join(" ", grain.CalendarFrom(today))}] q{grain.QueueLength}")));
            }
        }

        for (var i = 0; i < 2; i++)
        {
            using var polyclinic = gateway.ChannelFor(gateway.Polyclinic(i));
            var referrals = await polyclinic.UnaryAsync(Api.ListReferrals, new ListReferralsRequest { PageSize = 1000 });
            lines.AddRange(referrals.Referrals.Select(r => $"{r.HospitalizationCode} {r.Status} {r.PlannedDate} {r.QueuePosition} {r.History.Count}"));
        }

        return string.Join('\n', lines);
    }

    private async Task<(int All, int Ok)> AuditCountAsync()
    {
        using var admin = gateway.ChannelFor(gateway.Admin);
        var (all, ok) = (0, 0);
        var token = "";
        do
        {
            var page = await admin.UnaryAsync(Api.ListAudit, new ListAuditRecordsRequest { PageSize = 1000, PageToken = token });
            all += page.Records.Count;
            ok += page.Records.Count(r => r.Outcome == "OK");
            token = page.NextPageToken;
        }
        while (token.Length > 0);

        return (all, ok);
    }
}
