using System.Buffers;

namespace BedBureau.Wire.Tests;

/// <summary>Builds a multi-segment sequence, as a pipe hands over data that arrived in pieces.</summary>
internal sealed class SequenceSegments : ReadOnlySequenceSegment<byte>
{
    private SequenceSegments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    /// <summary>Splits <paramref name="data"/> at the given offsets.</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var bounds = cuts.Prepend(0).Append(data.Length).ToArray();
        var first = new SequenceSegments(data.AsMemory(bounds[0], bounds[1] - bounds[0]), 0);
        var last = first;
        for (var i = 1; i < bounds.Length - 1; i++)
        {
            var next = new SequenceSegments(data.AsMemory(bounds[i], bounds[i + 1] - bounds[i]), bounds[i]);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
