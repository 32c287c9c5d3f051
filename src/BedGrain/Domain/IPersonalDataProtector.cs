namespace BedBureau.BedGrain.Domain;

/// <summary>
/// Protects personal data the grains keep (IINs, the access key of a registration kept to answer
/// its retry): a keyed hash to compare without the value, reversible protection to show it to
/// those entitled. The gateway's implementation holds the configured secret.
/// </summary>
public interface IPersonalDataProtector
{
    string Hash(string value);

    string Protect(string value);

    string Unprotect(string protectedValue);
}
