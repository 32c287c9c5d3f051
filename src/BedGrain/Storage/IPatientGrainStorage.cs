using System.Collections.Concurrent;
using BedBureau.BedGrain.Domain;
using BedBureau.BedGrain.Runtime;

namespace BedBureau.BedGrain.Storage;

/// <summary>A patient grain's state as stored: its hold (or none) and the version to compare on.</summary>
public sealed record PatientGrainSnapshot(long Version, PatientHoldState? Hold);

/// <summary>
/// The patient grains' storage port: one small row per (patient key, profile). Commits are
/// compare-and-set on the version, like the bed grains': the stored version must be
/// <c>expectedVersion</c> or the commit throws <see cref="StorageConflictException"/> and writes
/// nothing, so two activations of one patient (even on two machines) cannot both register.
/// </summary>
public interface IPatientGrainStorage
{
    Task<PatientGrainSnapshot?> LoadAsync(PatientGrainKey key, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="hold"/> (null: none) as version <paramref name="expectedVersion"/> + 1.</summary>
    Task CommitAsync(PatientGrainKey key, long expectedVersion, PatientHoldState? hold, CancellationToken cancellationToken);
}

/// <summary>The patient grains' storage in memory, for tests, benchmarks and a single node.</summary>
public sealed class InMemoryPatientGrainStorage : IPatientGrainStorage
{
    private readonly ConcurrentDictionary<PatientGrainKey, PatientGrainSnapshot> _rows = new();

    public int Count => _rows.Count;

    public Task<PatientGrainSnapshot?> LoadAsync(PatientGrainKey key, CancellationToken cancellationToken) =>
        Task.FromResult(_rows.GetValueOrDefault(key));

    public Task CommitAsync(PatientGrainKey key, long expectedVersion, PatientHoldState? hold, CancellationToken cancellationToken)
    {
        var next = new PatientGrainSnapshot(expectedVersion + 1, hold);
        var stored = expectedVersion == 0
            ? _rows.TryAdd(key, next)
            : _rows.TryGetValue(key, out var current) && current.Version == expectedVersion && _rows.TryUpdate(key, next, current);
        return stored
            ? Task.CompletedTask
            : Task.FromException(new StorageConflictException($"patient grain {key}: stored version is not {expectedVersion}"));
    }
}
