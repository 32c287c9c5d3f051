using BedBureau.BedGrain.Domain;
using BedBureau.Gateway.ReferenceData;
using Google.Protobuf.WellKnownTypes;
using V1 = BedBureau.Contract.V1;

namespace BedBureau.Gateway.Grpc;

/// <summary>Between the contract's messages and the domain's types; bad input names its field.</summary>
internal static class ContractMapping
{
    private static readonly Dictionary<string, BedProfileInfo> Profiles = ReferenceCatalog.BedProfiles.ToDictionary(p => p.Code);

    public static DateOnly ToDate(V1.CalendarDate? date, string field)
    {
        if (date is null)
        {
            throw DomainException.Invalid(field, "REQUIRED", "is required");
        }

        if (date.Year is < 2000 or > 2100 || date.Month is < 1 or > 12 || date.Day < 1 || date.Day > DateTime.DaysInMonth(date.Year, date.Month))
        {
            throw DomainException.Invalid(field, "INVALID_DATE", $"{date.Year:D4}-{date.Month:D2}-{date.Day:D2} is not a calendar date between 2000 and 2100");
        }

        return new DateOnly(date.Year, date.Month, date.Day);
    }

    public static DateOnly? ToOptionalDate(V1.CalendarDate? date, string field) => date is null ? null : ToDate(date, field);

    public static V1.CalendarDate ToProto(DateOnly date) => new() { Year = date.Year, Month = date.Month, Day = date.Day };

    public static Timestamp ToProto(DateTimeOffset instant) => Timestamp.FromDateTimeOffset(instant);

    public static DateTimeOffset? ToInstant(Timestamp? timestamp, string field)
    {
        if (timestamp is null)
        {
            return null;
        }

        if (timestamp.Seconds is < 946684800 or > 4102444800 || timestamp.Nanos is < 0 or > 999_999_999)
        {
            throw DomainException.Invalid(field, "INVALID_TIME", "must be a time between 2000 and 2100");
        }

        return timestamp.ToDateTimeOffset();
    }

    public static V1.Referral ToProto(ReferralView view, string? patientIin)
    {
        var r = view.Referral;
        var referral = new V1.Referral
        {
            HospitalizationCode = r.HospitalizationCode,
            Status = (V1.ReferralStatus)r.Status,
            HospitalId = r.HospitalId,
            BedProfileCode = r.ProfileCode,
            ReferringOrganizationId = r.ReferringOrganizationId,
            PatientIin = patientIin ?? "",
            Icd10Code = patientIin is null ? "" : r.Icd10Code,
            Purpose = (V1.TreatmentPurpose)r.Purpose,
            FinanceSource = (V1.FinanceSource)r.FinanceSource,
            PlannedDate = ToProto(r.PlannedDate),
            RegisteredAt = ToProto(r.RegisteredAt),
            ScheduleDueAt = ToProto(r.ScheduleDueAt),
            ScheduleOverdue = view.ScheduleOverdue,
            RefusalReason = (V1.RefusalReason)r.RefusalReason,
            CancellationReason = (V1.CancellationReason)r.CancellationReason,
            StatusReason = r.StatusReason,
            QueuePosition = view.QueuePosition,
            PeopleAhead = view.PeopleAhead,
            PatientLocality = r.PatientLocality,
            UpdatedAt = ToProto(r.UpdatedAt),
        };
        if (r.AdmittedAt is { } admitted)
        {
            referral.AdmittedAt = ToProto(admitted);
        }

        if (r.RefusedAt is { } refused)
        {
            referral.RefusedAt = ToProto(refused);
        }

        referral.History.AddRange(r.History.Select(e => ToProto(e, withActor: true)));
        return referral;
    }

    public static V1.ReferralEvent ToProto(ReferralEvent e, bool withActor) => new()
    {
        Sequence = e.Sequence,
        HospitalizationCode = e.HospitalizationCode,
        Status = (V1.ReferralStatus)e.Status,
        Action = e.Action,
        Reason = e.Reason,
        ActorOrganizationId = withActor ? e.ActorOrganizationId : "",
        OccurredAt = ToProto(e.OccurredAt),
        PlannedDate = ToProto(e.PlannedDate),
    };

    /// <summary>What a patient may see: no IIN, no diagnosis, no organisation ids in the history.</summary>
    public static V1.QueueStatus ToQueueStatus(ReferralView view, string hospitalName)
    {
        var r = view.Referral;
        var last = r.History[^1];
        var status = new V1.QueueStatus
        {
            HospitalizationCode = r.HospitalizationCode,
            Status = (V1.ReferralStatus)r.Status,
            HospitalId = r.HospitalId,
            HospitalName = hospitalName,
            BedProfileCode = r.ProfileCode,
            BedProfileName = Profiles.TryGetValue(r.ProfileCode, out var profile) ? profile.NameRu : r.ProfileCode,
            PlannedDate = ToProto(r.PlannedDate),
            QueuePosition = view.QueuePosition,
            PeopleAhead = view.PeopleAhead,
            LastChangedAt = ToProto(last.OccurredAt),
            LastChangeReason = last.Reason,
            AsOf = ToProto(view.AsOf),
        };
        status.History.AddRange(r.History.Select(e => ToProto(e, withActor: false)));
        return status;
    }

    public static V1.BedCensus ToProto(string profileCode, BedCensus? census, DateTimeOffset now, TimeSpan staleAfter)
    {
        if (census is null)
        {
            return new V1.BedCensus { BedProfileCode = profileCode, Freshness = V1.Freshness.NeverReported };
        }

        return new V1.BedCensus
        {
            BedProfileCode = profileCode,
            Total = census.Total,
            Occupied = census.Occupied,
            Free = census.Free,
            FreeMale = census.FreeMale,
            FreeFemale = census.FreeFemale,
            ReportedAt = ToProto(census.ReportedAt),
            Freshness = census.IsStale(now, staleAfter) ? V1.Freshness.Stale : V1.Freshness.Fresh,
        };
    }

    public static V1.AdmissionDay ToProto(AdmissionDay day) => new()
    {
        Date = ToProto(day.Date),
        Slots = day.Slots,
        Reserved = day.Reserved,
        OverCapacity = day.OverCapacity,
    };

    /// <summary>
    /// An enum field as sent: proto3 enums are open, so a client may send a number the contract
    /// does not name; casting it to the domain's enum would store a value nobody can read.
    /// </summary>
    public static TEnum Defined<TEnum>(TEnum value, string field)
        where TEnum : struct, System.Enum =>
        System.Enum.IsDefined(value) ? value : throw DomainException.Invalid(field, "UNKNOWN_VALUE", $"{Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)} is not a value of {typeof(TEnum).Name}");

    /// <summary>A status filter: every entry a status of the contract, none unspecified.</summary>
    public static IEnumerable<V1.ReferralStatus> StatusFilter(IEnumerable<V1.ReferralStatus> statuses, string field = "statuses") =>
        statuses.Select(s => Defined(s, field) == V1.ReferralStatus.Unspecified
            ? throw DomainException.Invalid(field, "INVALID_STATUS", "REFERRAL_STATUS_UNSPECIFIED is not a status")
            : s).ToArray();

    /// <summary>A page size from a request: default when 0, else 1..max.</summary>
    public static int PageSize(int requested, string field = "page_size", int fallback = 100, int max = 1000) =>
        requested switch
        {
            0 => fallback,
            < 0 => throw DomainException.Invalid(field, "OUT_OF_RANGE", $"must be between 1 and {max}"),
            _ when requested > max => throw DomainException.Invalid(field, "OUT_OF_RANGE", $"must be between 1 and {max}"),
            _ => requested,
        };

    /// <summary>Page tokens are offsets, opaque to callers.</summary>
    public static int PageOffset(string token, string field = "page_token")
    {
        if (token.Length == 0)
        {
            return 0;
        }

        try
        {
            // Exactly the 4 bytes NextPageToken writes: a longer string must not pass for a token.
            var bytes = Convert.FromBase64String(token);
            var offset = bytes.Length == sizeof(int) ? BitConverter.ToInt32(bytes) : -1;
            return offset >= 0 ? offset : throw new FormatException();
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            throw DomainException.Invalid(field, "INVALID_TOKEN", "is not a token this service issued");
        }
    }

    public static string NextPageToken(int offset, int returned, int pageSize, bool more) =>
        more || returned == pageSize ? Convert.ToBase64String(BitConverter.GetBytes(offset + returned)) : "";
}
