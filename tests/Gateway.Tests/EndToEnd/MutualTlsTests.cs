using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BedBureau.Contract.Health.V1;
using BedBureau.Wire;
using BedBureau.Wire.Client;
using Microsoft.AspNetCore.Builder;

namespace BedBureau.Gateway.Tests.EndToEnd;

/// <summary>
/// Mutual TLS on a real gateway: the gRPC endpoint over TLS with
/// <c>ClientCertificateMode=RequireCertificate</c> and the bureau's client CA
/// (<c>Tls:ClientCertificateAuthority</c>). Certificates are made for the test.
/// </summary>
public sealed class MutualTlsTests : IAsyncLifetime
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "bedbureau-mtls", Guid.NewGuid().ToString("N"));
    private readonly X509Certificate2 _bureauCa = Authority("BedBureau client CA");
    private readonly X509Certificate2 _otherCa = Authority("Some other CA");
    private X509Certificate2 _server = null!;
    private WebApplication _app = null!;
    private string _address = "";

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_directory);
        var caPath = Path.Combine(_directory, "client-ca.pem");
        await File.WriteAllTextAsync(caPath, _bureauCa.ExportCertificatePem());
        _server = ServerCertificate();
        var serverPath = Path.Combine(_directory, "server.pfx");
        await File.WriteAllBytesAsync(serverPath, _server.Export(X509ContentType.Pfx, "test"));

        _address = $"https://127.0.0.1:{TestPorts.Free()}";
        _app = GatewayApp.Build(
        [
            $"--Kestrel:Endpoints:Grpc:Url={_address}",
            $"--Kestrel:Endpoints:Grpc:Certificate:Path={serverPath}",
            "--Kestrel:Endpoints:Grpc:Certificate:Password=test",
            "--Kestrel:Endpoints:Grpc:ClientCertificateMode=RequireCertificate",
            $"--Kestrel:Endpoints:Http:Url=http://127.0.0.1:{TestPorts.Free()}",
            $"--Tls:ClientCertificateAuthority={caPath}",
            $"--Storage:DataDirectory={Path.Combine(_directory, "data")}",
            "--Sample:Hospitals=5",
            "--Sample:Referrals=0",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await GatewayApp.InitializeAsync(_app);
        await _app.StartAsync();
    }

    [Fact]
    public async Task A_client_certificate_from_the_bureau_CA_is_served()
    {
        using var channel = Channel(Client(_bureauCa, "polyclinic 1"));

        var health = await channel.UnaryAsync(Api.HealthCheck, new HealthCheckRequest());

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task A_client_without_a_certificate_is_refused_at_the_handshake()
    {
        using var channel = Channel(null);

        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(Api.HealthCheck, new HealthCheckRequest()));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public async Task A_client_certificate_from_another_CA_is_refused_at_the_handshake()
    {
        using var channel = Channel(Client(_otherCa, "intruder"));

        var error = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(Api.HealthCheck, new HealthCheckRequest()));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
    }

    [Fact]
    public void A_certificate_for_servers_only_is_not_a_client_certificate()
    {
        var serverOnly = Issue(_bureauCa, "not a client", "1.3.6.1.5.5.7.3.1");

        Assert.False(Gateway.Security.ClientCertificates.IssuedBy(_bureauCa, serverOnly));
        Assert.True(Gateway.Security.ClientCertificates.IssuedBy(_bureauCa, Client(_bureauCa, "a client")));
    }

    private GrpcChannel Channel(X509Certificate2? clientCertificate)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == _server.GetCertHashString();
        if (clientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
        }

        return GrpcChannel.ForAddress(_address, new GrpcChannelOptions { Handler = handler });
    }

    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Client(X509Certificate2 authority, string name) => Issue(authority, name, "1.3.6.1.5.5.7.3.2");

    private static X509Certificate2 Issue(X509Certificate2 authority, string name, string usage)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usage)], false));
        using var issued = request.Create(authority, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));

        // TLS needs the private key with the certificate, in a form the platform's TLS can use.
        return X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pfx), null);
    }

    private static X509Certificate2 ServerCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }
}
