using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace BedBureau.HospitalAdapter.Configuration;

/// <summary>
/// Checks the bureau's TLS certificate, against the CA of <c>ca_cert</c> alone when it is set (a
/// private PKI) or the system's trusted roots, and remembers why the last check failed: the
/// failed handshake reaches the caller only as UNAVAILABLE, which the adapter would retry as if
/// the network were down.
/// </summary>
public sealed class ServerCertificateCheck
{
    private readonly X509Certificate2Collection? _authority;
    private readonly string? _authorityFile;
    private readonly string _host;
    private readonly TimeProvider _time;
    private string? _failure;

    /// <param name="authority">The CA certificates of <paramref name="authorityFile"/>; null trusts the system's roots.</param>
    public ServerCertificateCheck(Uri server, X509Certificate2Collection? authority, string? authorityFile, TimeProvider? time = null)
    {
        Server = server;
        _host = server.IdnHost;
        _authority = authority;
        _authorityFile = authorityFile;
        _time = time ?? TimeProvider.System;
    }

    public Uri Server { get; }

    public void Apply(SslClientAuthenticationOptions options)
    {
        if (_authority is not null)
        {
            // SslStream builds the chain with this policy and the intermediates the server sends
            // in its ExtraStore: a leaf issued by an intermediate of the private CA is trusted.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,

                // The bureau's private CA publishes no revocation list.
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(_authority);
            options.CertificateChainPolicy = policy;
        }

        options.RemoteCertificateValidationCallback = Validate;
    }

    /// <summary>Forgets an earlier failure, before a call.</summary>
    public void Reset() => Volatile.Write(ref _failure, null);

    /// <summary>Why the last handshake since <see cref="Reset"/> refused the server's certificate, if one did.</summary>
    public string? Failure => Volatile.Read(ref _failure);

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        Volatile.Write(ref _failure, Describe(certificate as X509Certificate2, chain, errors));
        return false;
    }

    /// <summary>Each check that failed, in words a hospital's IT department can act on.</summary>
    internal string Describe(X509Certificate2? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return "the server sent no certificate";
        }

        var problems = new List<string>();
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            problems.Add($"name mismatch: the certificate is for {Names(certificate)}, not {_host}");
        }

        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors))
        {
            problems.AddRange(ChainProblems(certificate, chain));
        }

        return string.Join("; ", problems);
    }

    private IEnumerable<string> ChainProblems(X509Certificate2 certificate, X509Chain? chain)
    {
        var trustedBy = _authorityFile is null ? "the system's trusted roots" : $"the CA in ca_cert ({_authorityFile})";
        var elements = chain?.ChainElements.ToArray() ?? [];
        var status = chain?.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status) ?? X509ChainStatusFlags.PartialChain;
        var reported = false;
        if (status.HasFlag(X509ChainStatusFlags.NotTimeValid))
        {
            var now = _time.GetUtcNow();
            foreach (var element in elements.Where(e => e.ChainElementStatus.Any(s => s.Status.HasFlag(X509ChainStatusFlags.NotTimeValid))))
            {
                var c = element.Certificate;
                yield return c.NotAfter.ToUniversalTime() < now
                    ? $"expired: {c.Subject} was valid until {c.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC"
                    : $"not yet valid: {c.Subject} is valid from {c.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC";
            }

            reported = true;
        }

        if (status.HasFlag(X509ChainStatusFlags.UntrustedRoot))
        {
            yield return $"untrusted root: the chain ends at {elements.LastOrDefault()?.Certificate.Subject ?? certificate.Issuer}, which is not {trustedBy}";
            reported = true;
        }
        else if (status.HasFlag(X509ChainStatusFlags.PartialChain))
        {
            // The chain stops at a certificate whose issuer is nowhere: neither trusted nor sent.
            var last = elements.Length > 0 ? elements[^1].Certificate : certificate;
            yield return elements.Length > 1
                ? $"untrusted root: the chain ends at {last.Subject}, issued by {last.Issuer}, which is not {trustedBy}"
                : $"untrusted root: {last.Subject} is issued by {last.Issuer}, which is neither {trustedBy} nor an intermediate the server sent";
            reported = true;
        }

        var others = chain?.ChainStatus
            .Where(s => (s.Status & ~(X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
            .Select(s => s.StatusInformation.Trim())
            .Distinct()
            .ToArray() ?? [];
        foreach (var other in others)
        {
            yield return other;
        }

        if (!reported && others.Length == 0)
        {
            yield return $"the chain to {trustedBy} does not validate";
        }
    }

    private static string Names(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>()
            .SelectMany(san => san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(ip => ip.ToString())))
            .ToArray();
        return names.Length > 0 ? string.Join(", ", names) : certificate.Subject;
    }
}

/// <summary>
/// The bureau's TLS certificate failed a check (untrusted root, name mismatch, expired). Retrying
/// cannot help: the settings (ca_cert, server) or the server's certificate must change.
/// </summary>
public sealed class ServerCertificateException(Uri server, string reason)
    : Exception($"{server}: the bureau's certificate is not trusted: {reason}")
{
    public Uri Server { get; } = server;

    public string Reason { get; } = reason;
}
