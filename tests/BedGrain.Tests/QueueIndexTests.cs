using BedBureau.BedGrain.Domain;

namespace BedBureau.BedGrain.Tests;

public sealed class QueueIndexTests
{
    private static readonly DateOnly Day0 = new(2026, 11, 2);

    [Fact]
    public void Position_follows_date_then_registration()
    {
        var queue = new QueueIndex();
        queue.Add(Day0.AddDays(2), 1);
        queue.Add(Day0, 3);
        queue.Add(Day0, 2);

        Assert.Equal(1, queue.PositionOf(Day0, 2));
        Assert.Equal(2, queue.PositionOf(Day0, 3));
        Assert.Equal(3, queue.PositionOf(Day0.AddDays(2), 1));
        Assert.Equal(0, queue.PositionOf(Day0, 1));
        Assert.Equal(Day0, queue.FirstDate);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Random_adds_and_removes_agree_with_a_sorted_list(int seed)
    {
        var random = new Random(seed);
        var queue = new QueueIndex();
        var model = new SortedSet<(int Day, long Sequence)>();
        long next = 1;
        for (var step = 0; step < 20_000; step++)
        {
            if (model.Count == 0 || random.Next(3) > 0)
            {
                // Dates spread over a year, sometimes far out, so the tree must grow both ways.
                var day = Day0.DayNumber + (random.Next(20) == 0 ? random.Next(-400, 800) : random.Next(0, 60));
                queue.Add(DateOnly.FromDayNumber(day), next);
                model.Add((day, next++));
            }
            else
            {
                var victim = model.ElementAt(random.Next(model.Count));
                Assert.True(queue.Remove(DateOnly.FromDayNumber(victim.Day), victim.Sequence));
                model.Remove(victim);
            }

            if (step % 997 == 0)
            {
                var rank = 0;
                foreach (var (day, sequence) in model)
                {
                    Assert.Equal(++rank, queue.PositionOf(DateOnly.FromDayNumber(day), sequence));
                }
            }
        }

        Assert.Equal(model.Count, queue.Count);
        Assert.Equal(model.Select(e => (DateOnly.FromDayNumber(e.Day), e.Sequence)), queue.InOrder());
        Assert.Equal(DateOnly.FromDayNumber(model.Min.Day), queue.FirstDate);
    }

    [Fact]
    public void Removing_what_is_not_queued_changes_nothing()
    {
        var queue = new QueueIndex();
        queue.Add(Day0, 1);

        Assert.False(queue.Remove(Day0, 2));
        Assert.False(queue.Remove(Day0.AddDays(1), 1));
        Assert.Equal(1, queue.Count);
    }
}
