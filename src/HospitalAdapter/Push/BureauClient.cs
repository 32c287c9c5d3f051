using BedBureau.Contract.V1;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>The two HospitalService calls the adapter makes, each with its deadline.</summary>
public sealed class BureauClient(GrpcChannel channel, TimeSpan timeout)
{
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Hospitals = HospitalReflection.Descriptor.Services[0];

    public static readonly Method<ReportBedsRequest, ReportBedsResponse> ReportBedsMethod = Method<ReportBedsRequest, ReportBedsResponse>.Of(Hospitals, "ReportBeds");

    public static readonly Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse> SetAdmissionCapacityMethod =
        Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse>.Of(Hospitals, "SetAdmissionCapacity");

    public Task<ReportBedsResponse> ReportBedsAsync(ReportBedsRequest request, CancellationToken cancellationToken) =>
        channel.UnaryAsync(ReportBedsMethod, request, Options(cancellationToken));

    public Task<SetAdmissionCapacityResponse> SetAdmissionCapacityAsync(SetAdmissionCapacityRequest request, CancellationToken cancellationToken) =>
        channel.UnaryAsync(SetAdmissionCapacityMethod, request, Options(cancellationToken));

    private CallOptions Options(CancellationToken cancellationToken) => new(Deadline: DateTime.UtcNow + timeout, CancellationToken: cancellationToken);
}
