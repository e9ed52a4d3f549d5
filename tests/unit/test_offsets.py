"""PartitionAcks: the committable offset under out-of-order acknowledgements."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamline._consume.offsets import PartitionAcks


def test_in_order_acks_advance_one_by_one() -> None:
    acks = PartitionAcks()
    acks.deliver([0, 1, 2])
    assert acks.committable is None and acks.outstanding == 3
    for o in (0, 1, 2):
        assert acks.ack(o)
        assert acks.committable == o + 1
    assert acks.outstanding == 0


def test_out_of_order_ack_is_held_back() -> None:
    acks = PartitionAcks()
    acks.deliver([0, 1, 2, 3])
    acks.ack(2)
    acks.ack(3)
    assert acks.committable is None
    acks.ack(0)
    assert acks.committable == 1
    acks.ack(1)
    assert acks.committable == 4


def test_gaps_in_offsets_do_not_block() -> None:
    # Compaction or transaction markers leave holes: contiguity is over delivered offsets.
    acks = PartitionAcks()
    acks.deliver([5, 9, 10])
    acks.deliver([14])
    acks.ack(5)
    assert acks.committable == 6
    acks.ack(9)
    assert acks.committable == 10
    acks.ack(14)
    assert acks.committable == 10
    acks.ack(10)
    assert acks.committable == 15


def test_whole_batch_ack_is_one_step() -> None:
    acks = PartitionAcks()
    acks.deliver(list(range(100)))
    acks.deliver(list(range(100, 200)))
    assert acks.ack_many(list(range(100, 200))) == 100
    assert acks.committable is None
    assert acks.ack_many(list(range(100))) == 100
    assert acks.committable == 200 and acks.outstanding == 0


def test_unknown_and_repeated_acks_are_ignored() -> None:
    acks = PartitionAcks()
    acks.deliver([3, 4, 7])
    assert not acks.ack(2)  # before anything delivered
    assert not acks.ack(5)  # a gap: never delivered
    assert not acks.ack(8)  # not delivered yet
    assert acks.ack(3)
    assert not acks.ack(3)
    assert acks.ack_many([3, 4]) == 1
    assert acks.outstanding == 1
    assert acks.committable == 5


def test_redelivery_below_the_last_delivered_offset_is_refused() -> None:
    acks = PartitionAcks()
    acks.deliver([0, 1])
    with pytest.raises(ValueError):
        acks.deliver([1, 2])


def test_withdraw_from_forgets_messages_not_handed_out() -> None:
    acks = PartitionAcks()
    acks.deliver([0, 1, 2, 3])
    acks.deliver([4, 5])
    acks.ack(0)
    acks.ack(3)  # acknowledged, then withdrawn: no longer counts
    assert acks.withdraw_from(2) == 4
    assert acks.outstanding == 1 and acks.last_delivered == 1
    acks.ack(1)
    assert acks.committable == 2 and acks.outstanding == 0
    acks.deliver([2, 3])  # can be delivered again
    assert acks.committable == 2


def test_withdraw_inside_a_fully_acknowledged_batch() -> None:
    acks = PartitionAcks()
    acks.deliver([0, 1, 2])
    acks.deliver([3, 4])
    acks.ack_many([3, 4])
    acks.withdraw_from(4)
    acks.ack_many([0, 1, 2])
    assert acks.committable == 4


def test_many_batches_compact_without_losing_position() -> None:
    acks = PartitionAcks()
    for base in range(0, 5000, 10):
        acks.deliver(list(range(base, base + 10)))
        acks.ack_many(list(range(base, base + 10)))
        assert acks.committable == base + 10
    assert acks.outstanding == 0


@st.composite
def deliveries(draw):
    """Batches of ascending offsets with random gaps, and an ack order over them."""
    batches = []
    offset = draw(st.integers(0, 5))
    for _ in range(draw(st.integers(1, 6))):
        batch = []
        for _ in range(draw(st.integers(1, 6))):
            offset += draw(st.integers(1, 3))
            batch.append(offset)
        batches.append(batch)
    # Each ack is a single offset or a whole batch.
    units: list[list[int]] = []
    for batch in batches:
        if draw(st.booleans()):
            units.append(batch)
        else:
            units.extend([o] for o in batch)
    order = draw(st.permutations(units))
    return batches, order


@settings(max_examples=300, deadline=None)
@given(deliveries(), st.data())
def test_acks_in_any_order_never_pass_an_unacked_message(case, data) -> None:
    batches, order = case
    acks = PartitionAcks()
    delivered = [o for b in batches for o in b]
    acked: set[int] = set()
    # Interleave deliveries with acks of what is delivered so far.
    pending_batches = list(batches)
    pending_units = list(order)
    while pending_batches or pending_units:
        ready = [u for u in pending_units if all(o <= acks.last_delivered for o in u)]
        if pending_batches and (not ready or data.draw(st.booleans())):
            acks.deliver(pending_batches.pop(0))
            continue
        unit = ready[0]
        pending_units.remove(unit)
        if len(unit) == 1:
            acks.ack(unit[0])
        else:
            acks.ack_many(unit)
        acked.update(unit)
        position = acks.committable
        if position is not None:
            # Every delivered offset below the committable position is acknowledged.
            assert all(o in acked for o in delivered if o < position and o <= acks.last_delivered)
        unacked = [o for o in delivered if o not in acked and o <= acks.last_delivered]
        if unacked:
            assert position is None or position <= min(unacked)
    assert acks.committable == delivered[-1] + 1
    assert acks.outstanding == 0
