using BedBureau.HospitalAdapter.Configuration;

namespace BedBureau.HospitalAdapter.Tests;

public sealed class AdapterSettingsTests : IDisposable
{
    private readonly string _config = Path.Combine(Path.GetTempPath(), $"adapter-{Guid.NewGuid():N}.json");

    [Fact]
    public void A_flag_beats_the_environment_which_beats_the_config_file()
    {
        File.WriteAllText(_config, """{ "server": "http://file:1", "api_key": "bbk_file_s", "hospital_id": "FILE", "timeout_seconds": 7 }""");
        var environment = new Dictionary<string, string> { ["BEDBUREAU_API_KEY"] = "bbk_env_s", ["BEDBUREAU_HOSPITAL_ID"] = "ENV" };

        var settings = AdapterSettings.Resolve(new Dictionary<string, string?> { ["hospital_id"] = "FLAG" }, environment.GetValueOrDefault, _config);

        Assert.Equal(("http://file:1", "bbk_env_s", "FLAG", TimeSpan.FromSeconds(7)), (settings.Server, settings.ApiKey, settings.HospitalId, settings.Timeout));
    }

    [Fact]
    public void The_config_file_may_come_from_the_environment()
    {
        File.WriteAllText(_config, """{ "server": "https://bureau.example:443" }""");

        var settings = AdapterSettings.Resolve(new Dictionary<string, string?>(), name => name == "BEDBUREAU_CONFIG" ? _config : null, null);

        Assert.Equal("https://bureau.example:443", settings.Server);
    }

    [Theory]
    [InlineData("server", "ftp://x", "server")]
    [InlineData("timeout_seconds", "-3", "timeout_seconds")]
    [InlineData("ca_cert", "/etc/ca.pem", "server")] // TLS settings on an http:// address
    public void Names_the_wrong_setting(string name, string value, string reported)
    {
        var error = Assert.Throws<SettingsException>(() => AdapterSettings.Resolve(new Dictionary<string, string?> { [name] = value }, _ => null, null));

        Assert.Equal(reported, error.Setting);
    }

    [Fact]
    public void Rejects_an_unknown_setting_in_the_config_file()
    {
        File.WriteAllText(_config, """{ "servr": "http://x:1" }""");

        var error = Assert.Throws<SettingsException>(() => AdapterSettings.Resolve(new Dictionary<string, string?>(), _ => null, _config));

        Assert.Equal("servr", error.Setting);
    }

    [Fact]
    public void A_channel_needs_an_api_key()
    {
        var error = Assert.Throws<SettingsException>(() => AdapterSettings.Resolve(new Dictionary<string, string?>(), _ => null, null).CreateChannel());

        Assert.Equal("api_key", error.Setting);
    }

    public void Dispose() => File.Delete(_config);
}
