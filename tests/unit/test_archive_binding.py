"""jobs/archive.py binding_problem: which query may write an archive, for every state of the two binding files."""

from __future__ import annotations

from jobs.archive import binding_problem, new_binding

CKPT, OUT = "/user/u/checkpoints/read_from_kafka/t/x", "/user/u/t-archive"


def problem(in_archive, in_checkpoint, *, topic="t", checkpoint=CKPT, other=False, ckpt_batches=False, log=False):
    return binding_problem(in_archive, in_checkpoint, topic, checkpoint, OUT, other, ckpt_batches, log)


def test_a_new_archive_and_a_new_checkpoint_may_start():
    assert problem(None, None) is None


def test_the_same_query_may_go_on():
    bound = new_binding("t", CKPT, OUT)
    assert problem(bound, dict(bound), ckpt_batches=True, log=True) is None


def test_a_first_run_that_stopped_between_the_two_files_may_go_on():
    assert problem(new_binding("t", CKPT, OUT), None) is None


def test_a_deleted_checkpoint_is_refused_naming_the_query_and_the_safe_ways_out():
    text = problem(new_binding("t", CKPT, OUT), None, log=True)
    assert "checkpoint is gone" in text and CKPT in text and "new directory" in text and "Restore" in text


def test_a_second_topic_on_one_output_dir_is_refused_naming_both_queries():
    other_ckpt = "/user/u/checkpoints/read_from_kafka/t2/x"
    bound = new_binding("t", CKPT, OUT)
    text = problem(bound, None, topic="t2", checkpoint=other_ckpt, log=True)
    assert bound["archive_id"] in text and "'t'" in text and "'t2'" in text and other_ckpt in text


def test_a_checkpoint_bound_to_another_archive_is_refused():
    text = problem(new_binding("t", CKPT, OUT), new_binding("t", CKPT, "/elsewhere"), log=True)
    assert "/elsewhere" in text and "One archive, one query" in text


def test_a_deleted_archive_is_refused_with_its_checkpoint_named():
    text = problem(None, new_binding("t", CKPT, OUT), ckpt_batches=True)
    assert "which is gone" in text and f"hdfs dfs -rm -r {CKPT}" in text


def test_a_directory_of_the_earlier_layout_or_of_other_files_is_refused():
    text = problem(None, None, other=True)
    assert "_spark_metadata" in text and "not migrated" in text


def test_an_earlier_layouts_checkpoint_is_refused():
    assert "earlier layout" in problem(None, None, ckpt_batches=True)
