namespace Resilience.Tests.Linearizability;

/// <summary>The checker on hand-made histories of a register: it accepts the linearizable ones and rejects the rest.</summary>
public class LinearizabilityCheckerTests
{
    private const int Read = RegisterModel.Read;

    private static readonly LinearizabilityChecker<int, int, int> Checker = new(new RegisterModel());

    private static HistoryOperation<int, int> Op(int thread, long invoked, long returned, int call, int answer = 0) =>
        new(thread, invoked, returned, call, answer);

    [Fact]
    public void A_sequential_history_the_model_answers_is_linearizable()
    {
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 2, 5), Op(0, 3, 4, Read, 5), Op(1, 5, 6, 7), Op(1, 7, 8, Read, 7)]));
    }

    [Fact]
    public void A_sequential_history_with_a_wrong_answer_is_not()
    {
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 2, 5), Op(0, 3, 4, Read, 0)]));
    }

    [Fact]
    public void Overlapping_operations_may_take_effect_in_either_order()
    {
        // The read overlaps the write: it may see the old value or the new one.
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 4, 5), Op(1, 2, 3, Read, 0)]));
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 4, 5), Op(1, 2, 3, Read, 5)]));
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 4, 5), Op(1, 2, 3, Read, 6)]));
    }

    [Fact]
    public void Real_time_order_is_kept_even_when_another_order_would_explain_the_answers()
    {
        // The write returned before the read began: the read must see it (a stale read is not linearizable).
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 2, 5), Op(1, 3, 4, Read, 0)]));
    }

    [Fact]
    public void Reads_that_see_a_new_value_and_then_the_old_one_are_not_linearizable()
    {
        // The classic new-old inversion: two sequential reads overlap one write; the first sees it, the second does not.
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 10, 5), Op(1, 2, 3, Read, 5), Op(1, 4, 5, Read, 0)]));
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 10, 5), Op(1, 2, 3, Read, 0), Op(1, 4, 5, Read, 5)]));
    }

    [Fact]
    public void Two_writers_and_readers_agreeing_on_one_order_are_linearizable_and_disagreeing_readers_are_not()
    {
        // Writes of 1 and 2 overlap; two readers after both disagree on which came last: no single order explains both.
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 4, 1), Op(1, 2, 5, 2), Op(2, 6, 7, Read, 1), Op(3, 8, 9, Read, 2)]));
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 4, 1), Op(1, 2, 5, 2), Op(2, 6, 7, Read, 2), Op(3, 8, 9, Read, 2)]));

        // Overlapping the writes instead, the readers may each see one, in the order the writes took effect.
        Assert.True(Checker.IsLinearizable(0, [Op(0, 1, 10, 1), Op(1, 2, 11, 2), Op(2, 3, 4, Read, 1), Op(2, 5, 6, Read, 2)]));
        Assert.False(Checker.IsLinearizable(0, [Op(0, 1, 10, 1), Op(1, 2, 11, 2), Op(2, 3, 4, Read, 1), Op(2, 5, 6, Read, 2), Op(3, 7, 8, Read, 1), Op(2, 12, 13, Read, 1)]));
    }

    [Fact]
    public void Final_states_are_every_state_some_linearization_ends_in()
    {
        var finals = Checker.FinalStates([0], [Op(0, 1, 4, 1), Op(1, 2, 5, 2)]);
        Assert.Equal([1, 2], finals.Order());

        // A later round's read narrows them down.
        Assert.Equal([2], Checker.FinalStates(finals, [Op(0, 6, 7, Read, 2)]));
        Assert.Empty(Checker.FinalStates(finals, [Op(0, 6, 7, Read, 3)]));
    }

    [Fact]
    public void A_long_history_of_concurrent_writes_is_decided_quickly()
    {
        // Twelve writes all overlapping and a read after them of one of their values: 12! orders, but memoised on
        // (writes done, value) at most 2^12 x 13 states; a value none wrote is refused after exploring them all.
        var history = Enumerable.Range(0, 12).Select(i => Op(i, i, 100 + i, i + 1)).Append(Op(12, 200, 201, Read, 1)).ToList();
        Assert.True(Checker.IsLinearizable(0, history));
        Assert.False(Checker.IsLinearizable(0, [.. history.Take(12), Op(12, 200, 201, Read, 13)]));
    }
}
