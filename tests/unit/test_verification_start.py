"""Where a write_to_kafka run starts counting: after a killed job, from the offsets recorded before it."""

from __future__ import annotations

from include.verify.write import verification_start

NOW = {"t": {"0": 900}, "t.dlq": {"0": 40}}
EARLIER = {"batch_before": 3, "offsets": {"t": {"0": 500}, "t.dlq": {"0": 10}}, "recorded_at": "then"}


def test_a_batch_planned_by_a_killed_job_and_never_committed_counts_from_before_that_job():
    assert verification_start(EARLIER, batch_before=3, last_planned=4, now=NOW) == {"t": {"0": 500}, "t.dlq": {"0": 10}}


def test_nothing_earlier_or_nothing_pending_is_a_fresh_start():
    assert verification_start(None, 3, 4, NOW) is None
    # every planned batch was committed: nothing of a failed attempt is left to count
    assert verification_start(EARLIER, 3, 3, NOW) is None


def test_a_batch_committed_since_the_offsets_were_recorded_is_a_fresh_start():
    # a later run committed batch 4 (and verified it); what is pending now is another batch
    assert verification_start(EARLIER, batch_before=4, last_planned=5, now=NOW) is None


def test_a_topic_that_now_holds_less_than_then_was_recreated_and_is_a_fresh_start():
    assert verification_start(EARLIER, 3, 4, {"t": {"0": 100}, "t.dlq": {"0": 40}}) is None


def test_a_partition_added_since_starts_at_its_current_end():
    now = {"t": {"0": 900, "1": 7}, "t.dlq": {"0": 40}}
    assert verification_start(EARLIER, 3, 4, now)["t"] == {"0": 500, "1": 7}
