using System.Text;

namespace BedBureau.HospitalAdapter.Input;

/// <summary>
/// A small RFC 4180 reader: a required header row, then records. Commas or semicolons (what
/// spreadsheet exports in Russian and Kazakh locales write), quoted fields, blank lines skipped.
/// </summary>
internal sealed class CsvTable
{
    private readonly Dictionary<string, int> _columns;

    private CsvTable(string file, Dictionary<string, int> columns, List<CsvRecord> records)
    {
        File = file;
        _columns = columns;
        Records = records;
    }

    public string File { get; }

    public IReadOnlyList<CsvRecord> Records { get; }

    public bool Has(string column) => _columns.ContainsKey(column);

    public static CsvTable Parse(string file, string text, IReadOnlyList<string> required, IReadOnlyList<string> optional)
    {
        var rows = Tokenize(file, text);
        if (rows.Count == 0)
        {
            throw new InputException(file, "line 1", "header", $"the header row is required: {string.Join(',', required)}");
        }

        var (headerLine, header) = rows[0];
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim().TrimStart('\uFEFF').ToLowerInvariant();
            if (!required.Contains(name) && !optional.Contains(name))
            {
                throw new InputException(file, $"line {headerLine}", name.Length == 0 ? $"column {i + 1}" : name,
                    $"unknown column; expected {string.Join(',', required)} and optionally {string.Join(',', optional)}");
            }

            if (!columns.TryAdd(name, i))
            {
                throw new InputException(file, $"line {headerLine}", name, "column appears twice in the header");
            }
        }

        foreach (var name in required)
        {
            if (!columns.ContainsKey(name))
            {
                throw new InputException(file, $"line {headerLine}", name, "required column is missing from the header");
            }
        }

        var records = new List<CsvRecord>(rows.Count - 1);
        foreach (var (line, fields) in rows.Skip(1))
        {
            if (fields.Count != header.Count)
            {
                throw new InputException(file, $"line {line}", "row", $"has {fields.Count} fields, the header has {header.Count}");
            }

            records.Add(new CsvRecord(file, line, columns, fields));
        }

        return new CsvTable(file, columns, records);
    }

    private static List<(int Line, List<string> Fields)> Tokenize(string file, string text)
    {
        var delimiter = Delimiter(text);
        var rows = new List<(int, List<string>)>();
        var fields = new List<string>();
        var field = new StringBuilder();
        var line = 1;
        var rowLine = 1;
        var quoted = false;
        var fieldStarted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    line += c == '\n' ? 1 : 0;
                    field.Append(c);
                }

                continue;
            }

            if (c == '"' && !fieldStarted)
            {
                quoted = true;
                fieldStarted = true;
            }
            else if (c == delimiter)
            {
                fields.Add(field.ToString());
                field.Clear();
                fieldStarted = false;
            }
            else if (c is '\n' or '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }

                EndRow();
                line++;
                rowLine = line;
            }
            else
            {
                field.Append(c);
                fieldStarted = true;
            }
        }

        if (quoted)
        {
            throw new InputException(file, $"line {rowLine}", "row", "a quoted field is not closed");
        }

        EndRow();
        return rows;

        void EndRow()
        {
            fields.Add(field.ToString());
            field.Clear();
            fieldStarted = false;
            if (fields.Count > 1 || fields[0].Trim().Length > 0)
            {
                rows.Add((rowLine, fields));
            }

            fields = [];
        }
    }

    private static char Delimiter(string text)
    {
        var end = text.IndexOfAny(['\r', '\n']);
        var header = end < 0 ? text : text[..end];
        return header.Contains(';') && !header.Contains(',') ? ';' : ',';
    }
}

/// <summary>One data row, read by column name.</summary>
internal sealed class CsvRecord(string file, int line, Dictionary<string, int> columns, List<string> fields)
{
    public int Line => line;

    public string Location => $"line {line}";

    /// <summary>The trimmed value, or "" when the column is absent or the cell empty.</summary>
    public string Get(string column) => columns.TryGetValue(column, out var i) ? fields[i].Trim() : "";

    public string Required(string column)
    {
        var value = Get(column);
        return value.Length > 0 ? value : throw Error(column, "is required");
    }

    public int Int(string column, int min, int max, int? absent = null)
    {
        var text = Get(column);
        if (text.Length == 0 && absent is { } fallback)
        {
            return fallback;
        }

        if (text.Length == 0)
        {
            throw Error(column, "is required");
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            throw Error(column, $"'{text}' is not a whole number");
        }

        return value < min || value > max ? throw Error(column, $"{value} is outside {min}..{max}") : value;
    }

    public InputException Error(string column, string reason) => new(file, Location, column, reason);
}
