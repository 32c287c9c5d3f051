using BedBureau.Contract.Health.V1;
using BedBureau.Contract.V1;
using BedBureau.Wire;
using Google.Protobuf.Reflection;

namespace BedBureau.LoadTest;

/// <summary>The contract's methods the national day calls.</summary>
internal static class Api
{
    private static readonly ServiceDescriptor Hospitals = HospitalReflection.Descriptor.Services[0];
    private static readonly ServiceDescriptor Referrals = ReferralReflection.Descriptor.Services[0];
    private static readonly ServiceDescriptor Patients = PatientReflection.Descriptor.Services[0];
    private static readonly ServiceDescriptor Directory = DirectoryReflection.Descriptor.Services[0];

    public static readonly Method<ReportBedsRequest, ReportBedsResponse> ReportBeds = Method<ReportBedsRequest, ReportBedsResponse>.Of(Hospitals, "ReportBeds");
    public static readonly Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse> SetAdmissionCapacity = Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse>.Of(Hospitals, "SetAdmissionCapacity");
    public static readonly Method<ListQueueRequest, ListQueueResponse> ListQueue = Method<ListQueueRequest, ListQueueResponse>.Of(Hospitals, "ListQueue");
    public static readonly Method<ScheduleReferralRequest, ScheduleReferralResponse> Schedule = Method<ScheduleReferralRequest, ScheduleReferralResponse>.Of(Hospitals, "ScheduleReferral");
    public static readonly Method<AdmitPatientRequest, AdmitPatientResponse> Admit = Method<AdmitPatientRequest, AdmitPatientResponse>.Of(Hospitals, "AdmitPatient");
    public static readonly Method<RefusePatientRequest, RefusePatientResponse> Refuse = Method<RefusePatientRequest, RefusePatientResponse>.Of(Hospitals, "RefusePatient");
    public static readonly Method<SearchFreeBedsRequest, SearchFreeBedsResponse> Search = Method<SearchFreeBedsRequest, SearchFreeBedsResponse>.Of(Referrals, "SearchFreeBeds");
    public static readonly Method<RegisterReferralRequest, RegisterReferralResponse> Register = Method<RegisterReferralRequest, RegisterReferralResponse>.Of(Referrals, "RegisterReferral");
    public static readonly Method<GetQueueStatusRequest, GetQueueStatusResponse> QueueStatus = Method<GetQueueStatusRequest, GetQueueStatusResponse>.Of(Patients, "GetQueueStatus");
    public static readonly Method<GetHospitalRequest, GetHospitalResponse> GetHospital = Method<GetHospitalRequest, GetHospitalResponse>.Of(Directory, "GetHospital");
    public static readonly Method<HealthCheckRequest, HealthCheckResponse> Health = Method<HealthCheckRequest, HealthCheckResponse>.Of(HealthReflection.Descriptor.Services[0], "Check");
    public static readonly Method<ListBedProfilesRequest, ListBedProfilesResponse> ListBedProfiles = Method<ListBedProfilesRequest, ListBedProfilesResponse>.Of(Directory, "ListBedProfiles");
}
