namespace BedBureau.Wire;

/// <summary>A stream of messages: the requests a server reads, the responses a client reads.</summary>
public interface IAsyncStreamReader<out T>
{
    T Current { get; }

    /// <summary>Reads the next message; false once the peer has finished sending.</summary>
    Task<bool> MoveNext(CancellationToken cancellationToken = default);
}

public static class AsyncStreamReaderExtensions
{
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(
        this IAsyncStreamReader<T> reader,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (await reader.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return reader.Current;
        }
    }
}
