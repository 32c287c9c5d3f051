using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using BedBureau.HospitalAdapter.Push;
using BedBureau.Wire;
using BedBureau.Wire.Client;

namespace BedBureau.HospitalAdapter.Configuration;

/// <summary>
/// Where and how to reach the bureau. Each setting comes from the first that has it: a flag, an
/// environment variable (BEDBUREAU_*), the JSON config file, the default.
/// </summary>
public sealed record AdapterSettings
{
    public const string EnvironmentPrefix = "BEDBUREAU_";

    public string Server { get; init; } = "http://127.0.0.1:50051";

    public string? ApiKey { get; init; }

    /// <summary>Required to send: the export's bed profiles are checked against this hospital's in the bureau's directory first.</summary>
    public string HospitalId { get; init; } = "";

    /// <summary>PEM file of the CA that signed the bureau's certificate (private PKI); else the system's trust store.</summary>
    public string? CaCertificate { get; init; }

    /// <summary>PEM certificate (with <see cref="ClientKey"/>) or PKCS#12 file for mutual TLS.</summary>
    public string? ClientCertificate { get; init; }

    public string? ClientKey { get; init; }

    public string? ClientCertificatePassword { get; init; }

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The names as they appear in the config file and, upper-cased with the prefix, in the environment.</summary>
    public static readonly string[] Names = ["server", "api_key", "hospital_id", "ca_cert", "client_cert", "client_key", "client_cert_password", "timeout_seconds"];

    /// <summary>Merges the sources; throws <see cref="SettingsException"/> naming the setting that is wrong.</summary>
    public static AdapterSettings Resolve(IReadOnlyDictionary<string, string?> flags, Func<string, string?> environment, string? configFile)
    {
        configFile ??= environment(EnvironmentPrefix + "CONFIG");
        var file = configFile is null ? new Dictionary<string, string?>() : ReadConfigFile(configFile);
        string? Get(string name) =>
            flags.GetValueOrDefault(name) is { Length: > 0 } flag ? flag
            : environment(EnvironmentPrefix + name.ToUpperInvariant()) is { Length: > 0 } env ? env
            : file.GetValueOrDefault(name);

        var settings = new AdapterSettings
        {
            Server = Get("server") ?? "http://127.0.0.1:50051",
            ApiKey = Get("api_key"),
            HospitalId = Get("hospital_id") ?? "",
            CaCertificate = Get("ca_cert"),
            ClientCertificate = Get("client_cert"),
            ClientKey = Get("client_key"),
            ClientCertificatePassword = Get("client_cert_password"),
        };
        if (Get("timeout_seconds") is { } timeout)
        {
            settings = double.TryParse(timeout, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0
                ? settings with { Timeout = TimeSpan.FromSeconds(seconds) }
                : throw new SettingsException("timeout_seconds", $"'{timeout}' is not a positive number of seconds");
        }

        if (!Uri.TryCreate(settings.Server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new SettingsException("server", $"'{settings.Server}' is not an http:// or https:// address");
        }

        if (uri.Scheme == "http" && (settings.CaCertificate ?? settings.ClientCertificate) is not null)
        {
            throw new SettingsException("server", "TLS settings (ca_cert, client_cert) need an https:// address");
        }

        if (settings.ClientKey is not null && settings.ClientCertificate is null)
        {
            throw new SettingsException("client_key", "needs client_cert");
        }

        return settings;
    }

    /// <summary>The settings as one line, without secrets, for the summary.</summary>
    public string Describe() =>
        $"{Server} as {(HospitalId.Length > 0 ? HospitalId : "the API key's hospital")}" +
        (CaCertificate is null ? "" : $", CA {CaCertificate}") + (ClientCertificate is null ? "" : $", client certificate {ClientCertificate}");

    /// <summary>A client of the bureau with these settings, owning its connection; a certificate that fails its checks ends a call with <see cref="ServerCertificateException"/>.</summary>
    public BureauClient Connect()
    {
        if (HospitalId.Length == 0)
        {
            throw new SettingsException("hospital_id", $"is required to send (--hospital-id, {EnvironmentPrefix}HOSPITAL_ID or hospital_id in the config file): the files' bed profiles are checked against the hospital's in the bureau's directory before anything is sent");
        }

        var certificates = CreateCertificateCheck();
        return new BureauClient(CreateChannel(certificates), Timeout, certificates);
    }

    public GrpcChannel CreateChannel() => CreateChannel(CreateCertificateCheck());

    private ServerCertificateCheck CreateCertificateCheck() =>
        new(new Uri(Server), CaCertificate is null ? null : LoadCertificates(CaCertificate, "ca_cert"), CaCertificate);

    private GrpcChannel CreateChannel(ServerCertificateCheck certificates)
    {
        if (ApiKey is not { Length: > 0 })
        {
            throw new SettingsException("api_key", $"is required (--api-key, {EnvironmentPrefix}API_KEY or api_key in the config file)");
        }

        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = System.Threading.Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        certificates.Apply(handler.SslOptions);
        if (ClientCertificate is not null)
        {
            handler.SslOptions.ClientCertificates = [LoadClientCertificate()];
        }

        return GrpcChannel.ForAddress(Server, new GrpcChannelOptions
        {
            Handler = handler,
            DefaultHeaders = new Metadata { { "authorization", $"Bearer {ApiKey}" } },
        });
    }

    private X509Certificate2 LoadClientCertificate()
    {
        try
        {
            var path = ClientCertificate!;
            return path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase)
                ? X509CertificateLoader.LoadPkcs12FromFile(path, ClientCertificatePassword)
                : X509Certificate2.CreateFromPemFile(path, ClientKey);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new SettingsException("client_cert", ex.Message);
        }
    }

    private static X509Certificate2Collection LoadCertificates(string path, string setting)
    {
        try
        {
            var certificates = new X509Certificate2Collection();
            certificates.ImportFromPemFile(path);
            return certificates.Count > 0 ? certificates : throw new SettingsException(setting, $"{path} holds no PEM certificate");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new SettingsException(setting, ex.Message);
        }
    }

    private static Dictionary<string, string?> ReadConfigFile(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!Names.Contains(property.Name))
                {
                    throw new SettingsException(property.Name, $"{path}: unknown setting; known: {string.Join(", ", Names)}");
                }

                values[property.Name] = property.Value.ValueKind switch
                {
                    JsonValueKind.String => property.Value.GetString(),
                    JsonValueKind.Number => property.Value.GetRawText(),
                    JsonValueKind.Null => null,
                    _ => throw new SettingsException(property.Name, $"{path}: must be a string or a number"),
                };
            }

            return values;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            throw new SettingsException("config", $"{path}: {ex.Message}");
        }
    }
}

/// <summary>A setting that is missing or wrong, by its config-file name.</summary>
public sealed class SettingsException(string setting, string reason) : Exception($"{setting}: {reason}")
{
    public string Setting { get; } = setting;
}
