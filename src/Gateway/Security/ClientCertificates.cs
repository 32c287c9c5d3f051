using System.Security.Cryptography.X509Certificates;

namespace BedBureau.Gateway.Security;

/// <summary>
/// Mutual TLS against the bureau's own client CA (<c>Tls:ClientCertificateAuthority</c>, a PEM
/// file), not the host's trust store: only certificates that CA issued pass. An endpoint asks
/// for them with Kestrel's <c>ClientCertificateMode</c>; endpoints that do not ask (the patients'
/// web page) are not affected.
/// </summary>
public static class ClientCertificates
{
    public static void Configure(WebApplicationBuilder builder)
    {
        if (builder.Configuration["Tls:ClientCertificateAuthority"] is not { Length: > 0 } path)
        {
            return;
        }

        var authority = X509Certificate2.CreateFromPem(File.ReadAllText(path));
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https =>
            https.ClientCertificateValidation = (certificate, _, _) => IssuedBy(authority, certificate)));
    }

    /// <summary>Whether <paramref name="certificate"/> chains to <paramref name="authority"/> alone, is in its validity period and may authenticate a client.</summary>
    public static bool IssuedBy(X509Certificate2 authority, X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);

        // The bureau's CA publishes no revocation list: a leaked client certificate is withdrawn
        // by rotating the CA or by revoking the organisation's API key, which every call needs too.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2")); // TLS client authentication
        return chain.Build(certificate);
    }
}
