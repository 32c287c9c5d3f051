using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Input;
using BedBureau.Wire;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>What happened to one push: the bureau's answers, or why it stopped.</summary>
/// <param name="DirectoryRead">False if the push failed reading the hospital's directory entry, before any call.</param>
public sealed record PushOutcome(bool Succeeded, ReportBedsResponse? Beds, IReadOnlyList<(string Profile, SetAdmissionCapacityResponse Response)> Calendars, RpcException? Error, bool DirectoryRead = true)
{
    /// <summary>The plan's calls applied, in order (ReportBeds first): on failure, the next one failed and those after it were not tried.</summary>
    public int Applied => (Beds is null ? 0 : 1) + Calendars.Count;
}

/// <summary>
/// Sends a plan, retrying what may succeed later (server down, overloaded, deadline, a proxy's
/// HTTP 500) with the same request ids; a rejection (bad data, wrong key) stops at once, since
/// repeating it cannot help.
/// </summary>
public sealed class Pusher(BureauClient client, Backoff backoff, TimeProvider time)
{
    /// <summary>Called before each wait: attempt number (1-based), the failure, the wait.</summary>
    public event Action<int, RpcException, TimeSpan>? Retrying;

    /// <summary>Called after each call succeeds: "ReportBeds" or the calendar's profile code.</summary>
    public event Action<string>? Sent;

    /// <summary>
    /// UNKNOWN and INTERNAL too: a proxy's HTTP 500 arrives as UNKNOWN (http-grpc-status-mapping.md),
    /// and every call is idempotent by its request id, so a retry cannot apply anything twice.
    /// </summary>
    public static bool IsTransient(StatusCode code) =>
        code is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Aborted
            or StatusCode.Unknown or StatusCode.Internal;

    /// <summary>
    /// Checks the plan's bed profiles against the hospital's in the directory, then sends it;
    /// throws <see cref="InputException"/>, having sent nothing, if the export names a profile the
    /// hospital does not have.
    /// </summary>
    /// <param name="maxAttempts">Per call; null retries until cancelled.</param>
    public async Task<PushOutcome> PushAsync(PushPlan plan, int? maxAttempts, CancellationToken cancellationToken)
    {
        // The readers reject an export with nothing in it; sending nothing must never read as "sent".
        ArgumentOutOfRangeException.ThrowIfZero(plan.CallCount, nameof(plan));
        ReportBedsResponse? beds = null;
        var calendars = new List<(string, SetAdmissionCapacityResponse)>();
        var directoryRead = false;
        try
        {
            // The bureau checks each call's profiles only when that call comes, after the calls
            // before it were applied: check them all first so that a wrong one sends nothing.
            var hospital = (await WithRetryAsync(ct => client.GetHospitalAsync(plan.HospitalId, ct), maxAttempts, cancellationToken).ConfigureAwait(false)).Hospital;
            plan.Export.RequireProfilesOf(hospital.Id, hospital.BedProfileCodes);
            directoryRead = true;
            if (plan.Beds is { } report)
            {
                beds = await WithRetryAsync(ct => client.ReportBedsAsync(report, ct), maxAttempts, cancellationToken).ConfigureAwait(false);
                Sent?.Invoke("ReportBeds");
            }

            foreach (var calendar in plan.Calendars)
            {
                var response = await WithRetryAsync(ct => client.SetAdmissionCapacityAsync(calendar, ct), maxAttempts, cancellationToken).ConfigureAwait(false);
                calendars.Add((calendar.BedProfileCode, response));
                Sent?.Invoke(calendar.BedProfileCode);
            }

            return new PushOutcome(true, beds, calendars, null);
        }
        catch (RpcException ex)
        {
            return new PushOutcome(false, beds, calendars, ex, directoryRead);
        }
    }

    private async Task<T> WithRetryAsync<T>(Func<CancellationToken, Task<T>> call, int? maxAttempts, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (RpcException ex) when (IsTransient(ex.StatusCode) && !cancellationToken.IsCancellationRequested && (maxAttempts is null || attempt < maxAttempts))
            {
                var wait = backoff.Delay(attempt - 1);
                Retrying?.Invoke(attempt, ex, wait);
                await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
