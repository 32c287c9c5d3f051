using BedBureau.Contract.V1;
using BedBureau.HospitalAdapter.Configuration;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.HospitalAdapter.Push;

/// <summary>The calls the adapter makes, each with its deadline: the hospital's entry in the directory, ReportBeds and SetAdmissionCapacity.</summary>
public sealed class BureauClient : IDisposable
{
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Hospitals = HospitalReflection.Descriptor.Services[0];

    public static readonly Method<GetHospitalRequest, GetHospitalResponse> GetHospitalMethod =
        Method<GetHospitalRequest, GetHospitalResponse>.Of(DirectoryReflection.Descriptor.Services[0], "GetHospital");

    public static readonly Method<ReportBedsRequest, ReportBedsResponse> ReportBedsMethod = Method<ReportBedsRequest, ReportBedsResponse>.Of(Hospitals, "ReportBeds");

    public static readonly Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse> SetAdmissionCapacityMethod =
        Method<SetAdmissionCapacityRequest, SetAdmissionCapacityResponse>.Of(Hospitals, "SetAdmissionCapacity");

    private readonly GrpcChannel _channel;
    private readonly TimeSpan _timeout;
    private readonly ServerCertificateCheck? _certificates;
    private readonly bool _ownsChannel;

    /// <summary>On a channel the caller owns and disposes.</summary>
    public BureauClient(GrpcChannel channel, TimeSpan timeout)
    {
        _channel = channel;
        _timeout = timeout;
    }

    /// <summary>Owns <paramref name="channel"/>, whose TLS handshakes report to <paramref name="certificates"/>.</summary>
    internal BureauClient(GrpcChannel channel, TimeSpan timeout, ServerCertificateCheck certificates)
        : this(channel, timeout)
    {
        _certificates = certificates;
        _ownsChannel = true;
    }

    public Task<GetHospitalResponse> GetHospitalAsync(string hospitalId, CancellationToken cancellationToken) =>
        CallAsync(() => _channel.UnaryAsync(GetHospitalMethod, new GetHospitalRequest { HospitalId = hospitalId }, Options(cancellationToken)));

    public Task<ReportBedsResponse> ReportBedsAsync(ReportBedsRequest request, CancellationToken cancellationToken) =>
        CallAsync(() => _channel.UnaryAsync(ReportBedsMethod, request, Options(cancellationToken)));

    public Task<SetAdmissionCapacityResponse> SetAdmissionCapacityAsync(SetAdmissionCapacityRequest request, CancellationToken cancellationToken) =>
        CallAsync(() => _channel.UnaryAsync(SetAdmissionCapacityMethod, request, Options(cancellationToken)));

    private async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        _certificates?.Reset();
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && _certificates?.Failure is { } failure)
        {
            // Not transient: the same certificate will fail the same way until someone changes it.
            throw new ServerCertificateException(_certificates.Server, failure);
        }
    }

    private CallOptions Options(CancellationToken cancellationToken) => new(Deadline: DateTime.UtcNow + _timeout, CancellationToken: cancellationToken);

    public void Dispose()
    {
        if (_ownsChannel)
        {
            _channel.Dispose();
        }
    }
}
