using Npgsql;

namespace BedBureau.StorageBench;

/// <summary>
/// What a measured window cost on both sides, to tell which side bounds the throughput: this
/// process's CPU, the CPU of the PostgreSQL processes serving the bench's database plus the
/// server's own background processes (read from /proc, so only for a server on this machine),
/// and the server's commits and WAL flushes.
/// </summary>
internal sealed class ServerCost
{
    private readonly string? _connectionString;
    private TimeSpan _cpu;
    private Dictionary<int, double> _serverCpu = [];
    private (long Commits, long WalSyncs, long WalBytes, long Fpi) _stats;

    private ServerCost(string? connectionString) => _connectionString = connectionString;

    public static async Task<ServerCost> StartAsync(string? connectionString)
    {
        var cost = new ServerCost(connectionString);
        cost._cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        if (connectionString is not null)
        {
            (cost._serverCpu, cost._stats) = await cost.SampleAsync();
        }

        return cost;
    }

    /// <summary>One line: per call, this process's CPU, the server's CPU, and commits and WAL flushes per second.</summary>
    public async Task<string> ReportAsync(long calls, TimeSpan elapsed)
    {
        var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - _cpu;
        calls = Math.Max(1, calls);
        var line = $"this process's CPU {cpu.TotalMicroseconds / calls:F0} µs per call ({cpu.TotalSeconds / elapsed.TotalSeconds:F2} cores)";
        if (_connectionString is null)
        {
            return line;
        }

        var (serverCpu, stats) = await SampleAsync();
        var server = serverCpu.Sum(p => p.Value - _serverCpu.GetValueOrDefault(p.Key));
        var seconds = elapsed.TotalSeconds;
        return $"{line}; PostgreSQL's CPU {server * 1e6 / calls:F0} µs per call ({server / seconds:F2} cores); "
            + $"{(stats.Commits - _stats.Commits) / seconds:N0} commits/s, {(stats.WalSyncs - _stats.WalSyncs) / seconds:N0} WAL flushes/s, "
            + $"{(stats.WalBytes - _stats.WalBytes) / (double)calls:N0} WAL bytes per call, {(stats.Fpi - _stats.Fpi) / (double)calls:F2} full-page images per call";
    }

    private async Task<(Dictionary<int, double> Cpu, (long Commits, long WalSyncs, long WalBytes, long Fpi) Stats)> SampleAsync()
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync();
        var pids = new List<int>();
        await using (var command = new NpgsqlCommand("SELECT pid FROM pg_stat_activity WHERE (datname = current_database() OR datname IS NULL) AND pid <> pg_backend_pid()", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                pids.Add(reader.GetInt32(0));
            }
        }

        var cpu = new Dictionary<int, double>();
        foreach (var pid in pids)
        {
            try
            {
                // Fields 14 and 15 after the command name: user and system time in clock ticks (100/s).
                var stat = await File.ReadAllTextAsync($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                cpu[pid] = (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        await using var stats = new NpgsqlCommand("""
            SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()), wal_sync, wal_bytes::bigint, wal_fpi FROM pg_stat_wal
            """, connection);
        await using var row = await stats.ExecuteReaderAsync();
        await row.ReadAsync();
        return (cpu, (row.GetInt64(0), row.GetInt64(1), row.GetInt64(2), row.GetInt64(3)));
    }
}
