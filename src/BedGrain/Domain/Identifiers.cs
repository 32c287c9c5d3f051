using System.Globalization;

namespace BedBureau.BedGrain.Domain;

/// <summary>Checks of the national identifiers, each failure naming the field.</summary>
public static class Identifiers
{
    private static readonly int[] FirstWeights = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    private static readonly int[] SecondWeights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];

    /// <summary>
    /// IIN and BIN check digit: sum of the first 11 digits times weights 1..11 mod 11; when that
    /// is 10, weights 3..11,1,2; when that is 10 again the number is invalid.
    /// </summary>
    public static bool HasValidCheckDigit(string number)
    {
        if (number.Length != 12 || !AllDigits(number))
        {
            return false;
        }

        var check = WeightedSum(number, FirstWeights);
        if (check == 10)
        {
            check = WeightedSum(number, SecondWeights);
        }

        return check != 10 && check == number[11] - '0';
    }

    /// <summary>A patient's IIN: 12 digits, valid check digit, a real birth date. Returns the birth date.</summary>
    public static DateOnly ParseIin(string? iin, string field = "patient_iin")
    {
        if (string.IsNullOrEmpty(iin))
        {
            throw DomainException.Invalid(field, "REQUIRED", "is required");
        }

        if (iin.Length != 12 || !AllDigits(iin))
        {
            throw DomainException.Invalid(field, "INVALID_IIN", "must be 12 digits");
        }

        if (!HasValidCheckDigit(iin))
        {
            throw DomainException.Invalid(field, "INVALID_IIN", "check digit does not match");
        }

        // 7th digit: century and sex (1/2: 1800s, 3/4: 1900s, 5/6: 2000s).
        var century = iin[6] switch
        {
            '1' or '2' => 1800,
            '3' or '4' => 1900,
            '5' or '6' => 2000,
            _ => throw DomainException.Invalid(field, "INVALID_IIN", "7th digit (century and sex) must be 1 to 6"),
        };
        var year = century + int.Parse(iin.AsSpan(0, 2), CultureInfo.InvariantCulture);
        var month = int.Parse(iin.AsSpan(2, 2), CultureInfo.InvariantCulture);
        var day = int.Parse(iin.AsSpan(4, 2), CultureInfo.InvariantCulture);
        if (month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            throw DomainException.Invalid(field, "INVALID_IIN", "first 6 digits are not a birth date");
        }

        return new DateOnly(year, month, day);
    }

    public static void ValidateBin(string? bin, string field = "bin")
    {
        if (string.IsNullOrEmpty(bin))
        {
            throw DomainException.Invalid(field, "REQUIRED", "is required");
        }

        if (!HasValidCheckDigit(bin))
        {
            throw DomainException.Invalid(field, "INVALID_BIN", "must be 12 digits with a valid check digit");
        }
    }

    /// <summary>ICD-10: a letter, two digits, then optionally a dot and one or two characters (I20.8, C50, S72.00).</summary>
    public static string ParseIcd10(string? code, string field = "icd10_code")
    {
        if (string.IsNullOrEmpty(code))
        {
            throw DomainException.Invalid(field, "REQUIRED", "is required");
        }

        var trimmed = code.AsSpan().Trim();
        if (!IsIcd10(trimmed))
        {
            throw DomainException.Invalid(field, "INVALID_ICD10", "must be an ICD-10 code such as I20.8");
        }

        return trimmed.Length == code.Length && !trimmed.ContainsAnyInRange('a', 'z') ? code : trimmed.ToString().ToUpperInvariant();
    }

    /// <summary>Age in whole years on a date.</summary>
    public static int AgeOn(DateOnly birthDate, DateOnly date)
    {
        var age = date.Year - birthDate.Year;
        return date < birthDate.AddYears(age) ? age - 1 : age;
    }

    public static string RequireCode(string? value, string field, int maxLength = 32)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw DomainException.Invalid(field, "REQUIRED", "is required");
        }

        if (value.Length > maxLength || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            throw DomainException.Invalid(field, "INVALID_CODE", $"must be up to {maxLength} letters, digits, '-' or '_'");
        }

        return value;
    }

    internal static bool AllDigits(ReadOnlySpan<char> value) => !value.IsEmpty && !value.ContainsAnyExceptInRange('0', '9');

    private static int WeightedSum(string number, int[] weights)
    {
        var sum = 0;
        for (var i = 0; i < 11; i++)
        {
            sum += (number[i] - '0') * weights[i];
        }

        return sum % 11;
    }

    /// <summary>^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$, letters in either case.</summary>
    private static bool IsIcd10(ReadOnlySpan<char> code)
    {
        if (code.Length is not (3 or 5 or 6) || !char.IsAsciiLetter(code[0]) || !char.IsAsciiDigit(code[1]) || !char.IsAsciiDigit(code[2]))
        {
            return false;
        }

        if (code.Length == 3)
        {
            return true;
        }

        return code[3] == '.' && char.IsAsciiLetterOrDigit(code[4]) && (code.Length == 5 || char.IsAsciiLetterOrDigit(code[5]));
    }
}
