using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Wire;
using static BedBureau.Gateway.Tests.EndToEnd.GatewayFixture;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>The contract's methods, typed, as a client names them.</summary>
internal static class Api
{
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Hospitals = HospitalReflection.Descriptor.Services[0];
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Referrals = ReferralReflection.Descriptor.Services[0];
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Patients = PatientReflection.Descriptor.Services[0];
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Directory = DirectoryReflection.Descriptor.Services[0];
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Audit = AuditReflection.Descriptor.Services[0];

    public static readonly Method<ReportBedsRequest, ReportBedsResponse> ReportBeds = Method<ReportBedsRequest, ReportBedsResponse>(Hospitals, "ReportBeds");
    public static readonly Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse> SetAdmissionCapacity = Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse>(Hospitals, "SetAdmissionCapacity");
    public static readonly Method<ListQueueRequest, ListQueueResponse> ListQueue = Method<ListQueueRequest, ListQueueResponse>(Hospitals, "ListQueue");
    public static readonly Method<ScheduleReferralRequest, ScheduleReferralResponse> Schedule = Method<ScheduleReferralRequest, ScheduleReferralResponse>(Hospitals, "ScheduleReferral");
    public static readonly Method<AdmitPatientRequest, AdmitPatientResponse> Admit = Method<AdmitPatientRequest, AdmitPatientResponse>(Hospitals, "AdmitPatient");
    public static readonly Method<RefusePatientRequest, RefusePatientResponse> Refuse = Method<RefusePatientRequest, RefusePatientResponse>(Hospitals, "RefusePatient");
    public static readonly Method<WatchReferralsRequest, WatchReferralsResponse> WatchReferrals = Method<WatchReferralsRequest, WatchReferralsResponse>(Hospitals, "WatchReferrals");
    public static readonly Method<SearchFreeBedsRequest, SearchFreeBedsResponse> Search = Method<SearchFreeBedsRequest, SearchFreeBedsResponse>(Referrals, "SearchFreeBeds");
    public static readonly Method<RegisterReferralRequest, RegisterReferralResponse> Register = Method<RegisterReferralRequest, RegisterReferralResponse>(Referrals, "RegisterReferral");
    public static readonly Method<GetReferralRequest, GetReferralResponse> GetReferral = Method<GetReferralRequest, GetReferralResponse>(Referrals, "GetReferral");
    public static readonly Method<CancelReferralRequest, CancelReferralResponse> Cancel = Method<CancelReferralRequest, CancelReferralResponse>(Referrals, "CancelReferral");
    public static readonly Method<RescheduleReferralRequest, RescheduleReferralResponse> Reschedule = Method<RescheduleReferralRequest, RescheduleReferralResponse>(Referrals, "RescheduleReferral");
    public static readonly Method<ListReferralsRequest, ListReferralsResponse> ListReferrals = Method<ListReferralsRequest, ListReferralsResponse>(Referrals, "ListReferrals");
    public static readonly Method<GetQueueStatusRequest, GetQueueStatusResponse> QueueStatus = Method<GetQueueStatusRequest, GetQueueStatusResponse>(Patients, "GetQueueStatus");
    public static readonly Method<WatchQueueStatusRequest, WatchQueueStatusResponse> WatchQueueStatus = Method<WatchQueueStatusRequest, WatchQueueStatusResponse>(Patients, "WatchQueueStatus");
    public static readonly Method<PatientServiceCancelReferralRequest, PatientServiceCancelReferralResponse> PatientCancel = Method<PatientServiceCancelReferralRequest, PatientServiceCancelReferralResponse>(Patients, "CancelReferral");
    public static readonly Method<GetHospitalRequest, GetHospitalResponse> GetHospital = Method<GetHospitalRequest, GetHospitalResponse>(Directory, "GetHospital");
    public static readonly Method<ListHospitalsRequest, ListHospitalsResponse> ListHospitals = Method<ListHospitalsRequest, ListHospitalsResponse>(Directory, "ListHospitals");
    public static readonly Method<ListBedProfilesRequest, ListBedProfilesResponse> ListBedProfiles = Method<ListBedProfilesRequest, ListBedProfilesResponse>(Directory, "ListBedProfiles");
    public static readonly Method<ListAuditRecordsRequest, ListAuditRecordsResponse> ListAudit = Method<ListAuditRecordsRequest, ListAuditRecordsResponse>(Audit, "ListAuditRecords");
    public static readonly Method<ListRegionsRequest, ListRegionsResponse> ListRegions = Method<ListRegionsRequest, ListRegionsResponse>(Directory, "ListRegions");
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> HealthWatch = Method<HealthCheckRequest, HealthCheckResponse>(HealthReflection.Descriptor.Services[0], "Watch");
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> HealthCheck = Method<HealthCheckRequest, HealthCheckResponse>(HealthReflection.Descriptor.Services[0], "Check");
}
