"""The stack's thread jobs tell a shared event when they end, so a waiting loop wakes then."""

from __future__ import annotations

import threading

import pytest

from tasks.core.stack import workers


def test_the_shared_event_is_set_when_a_job_ends_and_not_before() -> None:
    gate = threading.Event()
    ended = threading.Event()
    job = workers.start("held", lambda: gate.wait(30) and "done", notify=ended)
    assert not ended.is_set() and not job.done.is_set()
    gate.set()
    assert ended.wait(30) and job.done.is_set() and job.result == "done"


def test_a_failing_job_sets_it_too_and_keeps_its_error() -> None:
    ended = threading.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    job = workers.start("fails", fail, notify=ended)
    assert ended.wait(30)
    assert isinstance(job.error, RuntimeError)
    with pytest.raises(RuntimeError, match="boom"):
        workers.wait_all([job])
