using System.Text;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Storage;
using BedBureau.Contract.V1;
using BedBureau.Gateway.Security;
using BedBureau.GrpcServer;
using Domain = BedBureau.BedGrain.Domain;

namespace BedBureau.Gateway.Grpc;

/// <summary>bedbureau.v1.HospitalService: a hospital information system, for its own hospital.</summary>
internal sealed class HospitalService(BureauHost host, CallerResolver callers, ReferralEventHub events, TimeProvider time)
{
    public async Task<ReportBedsResponse> ReportBeds(ReportBedsRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalId, request.RequestId);
        var actor = await callers.RequireHospitalAsync(context, request.HospitalId);
        AuditEntry.Retarget(context, actor.OrganizationId);

        // Each profile's grain sees "<request_id>/<profile>", never empty and up to 33 characters
        // longer than the id: so the id itself is checked here, leaving room for the longest profile.
        if (request.RequestId.Length == 0)
        {
            throw DomainException.Invalid("request_id", "REQUIRED", "is required on every change, for safe retries");
        }

        if (request.RequestId.Length > 95)
        {
            throw DomainException.Invalid("request_id", "TOO_LONG", "must be at most 95 characters (ReportBeds appends /<profile> per profile)");
        }

        if (request.Reports.Count is 0 or > 500)
        {
            throw DomainException.Invalid("reports", "OUT_OF_RANGE", "must have 1 to 500 reports");
        }

        // Check every report before committing any: bad input changes nothing.
        var reports = new List<(BedGrainKey Key, Domain.BedReport Report)>();
        var profiles = new HashSet<string>();
        var now = time.GetUtcNow();
        for (var i = 0; i < request.Reports.Count; i++)
        {
            var r = request.Reports[i];
            var key = new BedGrainKey(actor.OrganizationId, Identifiers.RequireCode(r.BedProfileCode, $"reports[{i}].bed_profile_code"));
            if (!profiles.Add(key.ProfileCode))
            {
                throw DomainException.Invalid($"reports[{i}].bed_profile_code", "DUPLICATE", $"{key.ProfileCode} is reported twice");
            }

            host.Bureau.Directory.Require(key);
            var report = new Domain.BedReport(r.Total, r.Occupied, r.Free, r.FreeMale, r.FreeFemale, ContractMapping.ToInstant(r.ReportedAt, $"reports[{i}].reported_at"));
            report.Validate($"reports[{i}].", now);
            reports.Add((key, report));
        }

        string RequestIdOf(BedGrainKey key) => $"{request.RequestId}/{key.ProfileCode}";
        if (reports.Count > 1)
        {
            // Each profile is its own grain, with no transaction across them: ask them all before
            // committing any, so that one stale profile changes none. A newer report of this
            // hospital landing between the question and the commit still makes its profile alone
            // refuse (its grain checks again) while the others land.
            var checks = await Task.WhenAll(reports.Select(r => host.Bureau.IsStaleReportAsync(r.Key, actor, RequestIdOf(r.Key), r.Report, context.CancellationToken)));
            if (Array.IndexOf(checks, true) is var first and >= 0)
            {
                var stale = string.Join(", ", reports.Where((_, i) => checks[i]).Select(r => r.Key.ProfileCode));
                throw new DomainException(DomainErrorKind.FailedPrecondition, "STALE_REPORT",
                    $"reports[{first}].reported_at: the report of profile(s) {stale} is older than the one stored; nothing was changed for any profile.", $"reports[{first}].reported_at");
            }
        }

        var response = new ReportBedsResponse();

        // Commit the profiles together so group commit writes one batch instead of one flush per
        // profile in turn. One request id per profile, so a retry after a partial failure
        // completes the rest.
        var commits = reports.Select(r => host.Bureau.ReportBedsAsync(r.Key, actor, RequestIdOf(r.Key), r.Report, context.CancellationToken)).ToArray();
        await Task.WhenAll(commits);
        for (var i = 0; i < reports.Count; i++)
        {
            response.Census.Add(ContractMapping.ToProto(reports[i].Key.ProfileCode, await commits[i], now, host.Bureau.Options.StaleAfter));
        }

        return response;
    }

    public async Task<SetAdmissionCapacityResponse> SetAdmissionCapacity(SetAdmissionCapacityRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, $"{request.HospitalId}/{request.BedProfileCode}", request.RequestId);
        var actor = await callers.RequireHospitalAsync(context, request.HospitalId);
        AuditEntry.Retarget(context, $"{actor.OrganizationId}/{request.BedProfileCode}");
        var key = new BedGrainKey(actor.OrganizationId, Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code"));
        var days = request.Days.Select((d, i) => new CalendarSlots(ContractMapping.ToDate(d.Date, $"days[{i}].date"), d.Slots)).ToArray();
        var calendar = await host.Bureau.SetAdmissionCapacityAsync(key, actor, request.RequestId, days, context.CancellationToken);
        var response = new SetAdmissionCapacityResponse();
        response.Days.AddRange(calendar.Select(ContractMapping.ToProto));
        return response;
    }

    public async Task<ListQueueResponse> ListQueue(ListQueueRequest request, ServerCallContext context)
    {
        var actor = await callers.RequireHospitalAsync(context, request.HospitalId);
        var key = new BedGrainKey(actor.OrganizationId, Identifiers.RequireCode(request.BedProfileCode, "bed_profile_code"));
        var pageSize = ContractMapping.PageSize(request.PageSize);
        var offset = ContractMapping.PageOffset(request.PageToken);
        var statuses = ContractMapping.StatusFilter(request.Statuses).Select(s => (Domain.ReferralStatus)s).ToHashSet();
        var from = ContractMapping.ToOptionalDate(request.PlannedFrom, "planned_from");
        var to = ContractMapping.ToOptionalDate(request.PlannedTo, "planned_to");
        if (to < from)
        {
            throw DomainException.Invalid("planned_to", "BEFORE_PLANNED_FROM", "must not be before planned_from");
        }

        var filter = new QueueFilter(statuses, from, to);
        var queue = await host.Bureau.CallAsync(key, (filter, context.CancellationToken), static (grain, a) => grain.ListQueueAsync(a.filter, a.CancellationToken), context.CancellationToken);
        var response = new ListQueueResponse { TotalSize = queue.Count };
        foreach (var view in queue.Skip(offset).Take(pageSize))
        {
            response.Referrals.Add(ContractMapping.ToProto(view, host.Protector.Unprotect(view.Referral.ProtectedPatientIin)));
        }

        response.NextPageToken = offset + pageSize < queue.Count ? ContractMapping.NextPageToken(offset, pageSize, pageSize, more: true) : "";
        return response;
    }

    public async Task<ScheduleReferralResponse> ScheduleReferral(ScheduleReferralRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);
        var actor = await callers.RequireHospitalAsync(context, "");
        var view = await host.Bureau.ScheduleAsync(request.HospitalizationCode, actor, request.RequestId,
            ContractMapping.ToOptionalDate(request.PlannedDate, "planned_date"), ReferralService.Limit(request.Reason, "reason"), context.CancellationToken);
        return new ScheduleReferralResponse { Referral = WithIin(view) };
    }

    public async Task<AdmitPatientResponse> AdmitPatient(AdmitPatientRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);
        var actor = await callers.RequireHospitalAsync(context, "");
        var view = await host.Bureau.AdmitAsync(request.HospitalizationCode, actor, request.RequestId, ContractMapping.ToInstant(request.AdmittedAt, "admitted_at"), context.CancellationToken);
        return new AdmitPatientResponse { Referral = WithIin(view) };
    }

    public async Task<RefusePatientResponse> RefusePatient(RefusePatientRequest request, ServerCallContext context)
    {
        AuditEntry.Describe(context, request.HospitalizationCode, request.RequestId);
        var actor = await callers.RequireHospitalAsync(context, "");
        var view = await host.Bureau.RefuseAsync(request.HospitalizationCode, actor, request.RequestId, (Domain.RefusalReason)ContractMapping.Defined(request.Reason, "reason"),
            ReferralService.Limit(request.ReasonText, "reason_text"), context.CancellationToken);
        return new RefusePatientResponse { Referral = WithIin(view) };
    }

    /// <summary>
    /// Live events of the caller's hospital. With a resume token, first the events committed
    /// after it (read from the grains), then live ones; an event is never sent twice.
    /// </summary>
    public async Task WatchReferrals(WatchReferralsRequest request, IServerStreamWriter<WatchReferralsResponse> responseStream, ServerCallContext context)
    {
        var actor = await callers.RequireHospitalAsync(context, request.HospitalId);
        var hospital = host.Bureau.Directory.FindHospital(actor.OrganizationId)
            ?? throw DomainException.NotFound("UNKNOWN_HOSPITAL", "hospital_id: the caller's hospital is not in the directory", "hospital_id");
        var cursor = ResumeToken.Parse(request.ResumeToken);

        // Subscribe before reading the past, so nothing committed in between is missed.
        using var subscription = events.SubscribeHospital(hospital.Id);
        var profiles = hospital.ProfileCodes.Order(StringComparer.Ordinal).Select(profile => new BedGrainKey(hospital.Id, profile)).ToList();
        var resumed = profiles.Where(key => cursor.ContainsKey(key.ProfileCode)).ToList();
        foreach (var key in profiles.Except(resumed))
        {
            cursor[key.ProfileCode] = await host.Bureau.CallAsync(key, 0, static (grain, _) => Task.FromResult(grain.LastEventSequence), context.CancellationToken);
        }

        // Only now is every later commit sure to reach the client, so only now do the headers
        // tell it the stream is live.
        await context.WriteResponseHeadersAsync([]);
        foreach (var key in resumed)
        {
            await CatchUpAsync(key);
        }

        await foreach (var committed in subscription.Events.ReadAllAsync(context.CancellationToken))
        {
            if (committed.Elsewhere)
            {
                foreach (var key in committed.Grain.ProfileCode.Length == 0 ? profiles : profiles.Where(p => p == committed.Grain))
                {
                    await CatchUpAsync(key);
                }
            }
            else if (committed.Event!.Sequence > cursor[committed.Grain.ProfileCode] + 1)
            {
                // Events before this one were committed through another node and not heard yet.
                await CatchUpAsync(committed.Grain);
            }
            else if (committed.Event.Sequence > cursor[committed.Grain.ProfileCode])
            {
                await SendAsync(responseStream, cursor, committed.Grain, committed.Event, committed.Referral!);
            }
        }

        if (subscription.Overflowed)
        {
            throw new Wire.RpcException(Wire.StatusCode.ResourceExhausted, "[WATCHER_TOO_SLOW] The stream fell behind; reconnect with the last resume_token.");
        }

        // The grain's events after the stream's cursor: on resuming, and after other nodes' commits.
        async Task CatchUpAsync(BedGrainKey key)
        {
            var after = cursor[key.ProfileCode];
            var past = await host.Bureau.CallAsync(key, (after, context.CancellationToken), static (grain, a) => grain.EventsAfterAsync(a.after, a.CancellationToken), context.CancellationToken);
            foreach (var (@event, referral) in past)
            {
                await SendAsync(responseStream, cursor, key, @event, referral);
            }
        }
    }

    private async Task SendAsync(IServerStreamWriter<WatchReferralsResponse> stream, Dictionary<string, long> cursor, BedGrainKey key, Domain.ReferralEvent @event, Domain.Referral referral)
    {
        cursor[key.ProfileCode] = @event.Sequence;
        var view = new ReferralView(referral, 0, referral.IsScheduleOverdue(time.GetUtcNow()), time.GetUtcNow());
        await stream.WriteAsync(new WatchReferralsResponse
        {
            Event = ContractMapping.ToProto(@event, withActor: true),
            Referral = ContractMapping.ToProto(view, host.Protector.Unprotect(referral.ProtectedPatientIin)),
            ResumeToken = ResumeToken.Format(cursor),
        });
    }

    private Contract.V1.Referral WithIin(ReferralView view) => ContractMapping.ToProto(view, host.Protector.Unprotect(view.Referral.ProtectedPatientIin));

    /// <summary>"profile:sequence,..." in base64url: the last event sent per bed profile.</summary>
    private static class ResumeToken
    {
        public static Dictionary<string, long> Parse(string token)
        {
            var cursor = new Dictionary<string, long>(StringComparer.Ordinal);
            if (token.Length == 0)
            {
                return cursor;
            }

            try
            {
                var text = Encoding.UTF8.GetString(Convert.FromBase64String(token.Replace('-', '+').Replace('_', '/') + new string('=', (4 - token.Length % 4) % 4)));
                foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries))
                {
                    var (profile, sequence) = (part[..part.IndexOf(':', StringComparison.Ordinal)], long.Parse(part[(part.IndexOf(':', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture));
                    cursor[profile] = sequence >= 0 ? sequence : throw new FormatException();
                }
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
            {
                throw DomainException.Invalid("resume_token", "INVALID_TOKEN", "is not a token this service issued");
            }

            return cursor;
        }

        public static string Format(Dictionary<string, long> cursor) =>
            Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join(',', cursor.Select(c => $"{c.Key}:{c.Value}")))).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }
}
