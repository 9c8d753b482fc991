"""Attempt limits of the customer progress page live in the database: every process and host sees the same
counts, parallel requests cannot slip past them together, and only keys tried lately are kept."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import func, select

from engine import Engine
from engine.store.tables import ATTEMPTS

from tests.conftest import Clock
from tests.databases import fast_hasher


def twin(engine: Engine, clock: Clock, tmp_path: Path) -> Engine:
    """Another process on the same database (its own documents folder, its own memory)."""
    return Engine({"database_url": engine.config.database_url, "documents_dir": tmp_path / "other"}, clock=clock,
                  password_hasher=fast_hasher())  # type: ignore[arg-type]


def test_failures_counted_by_one_process_hold_in_another(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    other = twin(engine, clock, tmp_path)
    try:
        for _ in range(5):
            assert engine.progress_attempt("203.0.113.7", "HV20261123999") == 0
        assert other.progress_attempt("203.0.113.7", "LV20261123000001") == 2  # the address waits there too
        assert other.progress_attempt("198.51.100.1", "HV20261123999") == 1  # and so does the number
        clock.advance(seconds=2)
        assert other.progress_attempt("203.0.113.7", "LV20261123000001") == 0
    finally:
        other.dispose()


def test_a_right_answer_takes_its_attempt_back_everywhere(engine: Engine, clock: Clock, tmp_path: Path) -> None:
    other = twin(engine, clock, tmp_path)
    try:
        for _ in range(4):
            assert engine.progress_attempt("203.0.113.7", "HV20261123000001") == 0
        assert engine.progress_attempt("203.0.113.7", "HV20261123000001") == 0  # the fifth: counted until…
        other.progress_found("203.0.113.7", "HV20261123000001")  # …it turns out right, in another process
        assert engine.progress_attempt("203.0.113.7", "HV20261123000001") == 0
    finally:
        other.dispose()


def test_a_burst_of_parallel_attempts_gets_no_more_than_the_free_ones(engine: Engine, clock: Clock,
                                                                     tmp_path: Path) -> None:
    engines = [engine, twin(engine, clock, tmp_path)]
    answers: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def attempt(i: int) -> None:
        start.wait()
        wait = engines[i % 2].progress_attempt(f"198.51.100.{i}", "HV20261123000042")
        with lock:
            answers.append(wait)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engines[1].dispose()
    assert len(answers) == 12 and answers.count(0) == 5  # the number's five free attempts, not one more


def test_only_keys_tried_lately_are_kept(engine: Engine, clock: Clock) -> None:
    for n in range(20):
        engine.progress_attempt(f"198.51.100.{n}", f"HV2026112300{n:04d}")
    clock.advance(minutes=16)
    engine.progress_attempt("192.0.2.1", "PV20261123000001")
    with engine.store.read() as conn:
        keys = set(conn.execute(select(ATTEMPTS.c.key)).scalars())
        assert conn.execute(select(func.count()).select_from(ATTEMPTS)).scalar_one() == 2
    assert keys == {"address:192.0.2.1", "application:PV20261123000001"}
