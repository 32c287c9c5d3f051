using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Spectre.Console;

namespace BedBureau.HospitalAdapter.Tests;

/// <summary>
/// TLS with a private CA, end to end: a real gateway whose gRPC endpoints serve certificates
/// issued by an intermediate CA (leaf and intermediate sent in the handshake), and the adapter
/// trusting only the root. Certificates are made for the test.
/// </summary>
public sealed class ServerCertificateTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("adapter-tls").FullName;
    private readonly StringWriter _output = new();
    private TestGateway _gateway = null!;
    private string _root = "", _otherRoot = "", _trusted = "", _expired = "", _wrongName = "";

    public async Task InitializeAsync()
    {
        var (root, rootKey) = Authority("CN=Bureau Test Root CA", null, null);
        var (intermediate, intermediateKey) = Authority("CN=Bureau Test Issuing CA", root, rootKey);
        var (other, _) = Authority("CN=Some Other Root CA", null, null);
        _root = Write("root.pem", root.ExportCertificatePem());
        _otherRoot = Write("other-root.pem", other.ExportCertificatePem());

        var now = DateTimeOffset.UtcNow;
        _trusted = $"https://127.0.0.1:{TestPorts.Free()}";
        _expired = $"https://127.0.0.1:{TestPorts.Free()}";
        _wrongName = $"https://127.0.0.1:{TestPorts.Free()}";
        _gateway = await TestGateway.StartAsync(settings:
        [
            .. Endpoint("Trusted", _trusted, Leaf("trusted", intermediate, intermediateKey, now.AddDays(-1), now.AddDays(30), ip: true)),
            .. Endpoint("Expired", _expired, Leaf("expired", intermediate, intermediateKey, now.AddDays(-30), now.AddDays(-2), ip: true)),
            .. Endpoint("WrongName", _wrongName, Leaf("wrong-name", intermediate, intermediateKey, now.AddDays(-1), now.AddDays(30), ip: false)),
        ]);
    }

    [Fact]
    public async Task Push_trusts_a_certificate_from_an_intermediate_of_the_configured_root()
    {
        var profile = (await _gateway.GetHospitalAsync()).Hospital.BedProfileCodes[0];
        var beds = Write("beds.csv", $"bed_profile_code,total,occupied,free\n{profile},903,3,3\n");

        var exit = await Run("push", "--beds", beds, "--server", _trusted, "--ca-cert", _root, "--hospital-id", _gateway.HospitalId, "--api-key", _gateway.HospitalKey, "--attempts", "1");

        Assert.True(exit == AdapterCli.Ok, _output.ToString());
        Assert.Equal(903, (await _gateway.GetHospitalAsync()).Census.Single(c => c.BedProfileCode == profile).Total);
    }

    [Theory]
    [InlineData("other root", "untrusted root: the chain ends at CN=Bureau Test Issuing CA, issued by CN=Bureau Test Root CA, which is not the CA in ca_cert")]
    [InlineData("expired", "expired: CN=expired was valid until")]
    [InlineData("wrong name", "name mismatch: the certificate is for bureau.example, not 127.0.0.1")]
    public async Task A_certificate_that_fails_a_check_is_reported_by_the_check_and_not_retried(string problem, string reported)
    {
        var (server, authority) = problem switch
        {
            "other root" => (_trusted, _otherRoot),
            "expired" => (_expired, _root),
            _ => (_wrongName, _root),
        };
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free\n101,10,5,5\n");

        var exit = await Run("push", "--beds", beds, "--server", server, "--ca-cert", authority, "--hospital-id", _gateway.HospitalId, "--api-key", _gateway.HospitalKey);

        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.True(Flat().Contains($"Not sent, the bureau's certificate is not trusted ({server}/): {reported}", StringComparison.Ordinal), Flat());
        Assert.DoesNotContain("retrying", _output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_stops_on_an_untrusted_certificate_instead_of_retrying_as_if_the_network_were_down()
    {
        var beds = Write("beds.csv", "bed_profile_code,total,occupied,free\n101,10,5,5\n");
        using var giveUp = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var exit = await Run(giveUp.Token, "watch", "--beds", beds, "--server", _trusted, "--ca-cert", _otherRoot, "--hospital-id", _gateway.HospitalId, "--api-key", _gateway.HospitalKey);

        Assert.False(giveUp.IsCancellationRequested, _output.ToString());
        Assert.Equal(AdapterCli.BadInput, exit);
        Assert.Contains($"Stopped watching, the bureau's certificate is not trusted ({_trusted}/): untrusted root", Flat(), StringComparison.Ordinal);
        Assert.Contains("Not retried: the same certificate fails the same way until it or the settings change. Check ca_cert, server and this computer's clock", Flat(), StringComparison.Ordinal);
        Assert.Contains("Then run watch again.", Flat(), StringComparison.Ordinal);
    }

    private static (X509Certificate2 Certificate, ECDsa Key) Authority(string name, X509Certificate2? issuer, ECDsa? issuerKey)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, issuer is not null, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        if (issuer is null)
        {
            return (request.CreateSelfSigned(now.AddDays(-60), now.AddDays(365)), key);
        }

        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var generator = X509SignatureGenerator.CreateForECDsa(issuerKey!);
        return (request.Create(issuer.SubjectName, generator, now.AddDays(-50), now.AddDays(300), RandomNumberGenerator.GetBytes(8)), key);
    }

    /// <summary>A server certificate for 127.0.0.1 (or only for bureau.example), as the PEM files Kestrel reads: leaf then intermediate, and the key.</summary>
    private (string Chain, string Key) Leaf(string name, X509Certificate2 issuer, ECDsa issuerKey, DateTimeOffset from, DateTimeOffset to, bool ip)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        if (ip)
        {
            names.AddIpAddress(IPAddress.Loopback);
        }
        else
        {
            names.AddDnsName("bureau.example");
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var leaf = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), from, to, RandomNumberGenerator.GetBytes(8));
        return (Write($"{name}.pem", leaf.ExportCertificatePem() + "\n" + issuer.ExportCertificatePem() + "\n"), Write($"{name}.key", key.ExportPkcs8PrivateKeyPem()));
    }

    private static string[] Endpoint(string name, string url, (string Chain, string Key) certificate) =>
    [
        $"--Kestrel:Endpoints:{name}:Url={url}",
        $"--Kestrel:Endpoints:{name}:Protocols=Http2",
        $"--Kestrel:Endpoints:{name}:Certificate:Path={certificate.Chain}",
        $"--Kestrel:Endpoints:{name}:Certificate:KeyPath={certificate.Key}",
    ];

    private Task<int> Run(params string[] args) => Run(CancellationToken.None, args);

    private Task<int> Run(CancellationToken cancellationToken, params string[] args)
    {
        return AdapterCli.RunAsync(args, PlainConsole.Writing(_output), _output, _ => null, TimeProvider.System, cancellationToken);
    }

    private string Flat() => string.Join(' ', _output.ToString().Split('\n', StringSplitOptions.TrimEntries));

    private string Write(string name, string text)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _output.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
