"""Documents behind one interface, two back ends: a folder on this host (default) or the database (hosts that
share no disk), content-addressed there; either way every read is checked against the recorded SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from engine import ConfigurationError, Engine, NotFound, Upload, load_config
from cli.demo import actor_for, do_field_work, drive

from tests.conftest import Clock, make_engine
from tests.databases import fast_hasher

PDF = b"%PDF-1.4\n% a completion report\n"


def upload_report(engine: Engine, scenarios: dict[str, Any], content: bytes = PDF) -> tuple[str, str]:
    """An HV application up to its completion request, which is submitted with a report: (app no, document id)."""
    scenario = scenarios["hv_solo"]
    result = None
    for result in drive(engine, scenario, stop_after=5):
        pass
    assert result is not None
    step = scenario.steps[5]
    (task,) = [t for t in result.ready_tasks if t.node_id == step.node]
    actor = actor_for(engine, task.role, task.assignee)
    do_field_work(engine, task.id, actor)
    engine.complete(task.id, actor, step.data,
                    [Upload("completion_report", "竣工报告.pdf", "application/pdf", content)])
    (doc,) = [d for d in engine.application(result.app_no).documents if d.kind == "upload:completion_report"]
    return result.app_no, doc.id


def sql(engine: Engine, statement: str, **params: Any) -> Any:
    with engine.store.sa_engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.all() if result.returns_rows else result.rowcount


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_by_default_documents_are_files_in_the_documents_folder(engine: Engine, scenarios: dict[str, Any]) -> None:
    assert engine.config.documents_backend == "directory"
    _, doc_id = upload_report(engine, scenarios)
    stored = [p for p in files_under(engine.config.documents) if p.read_bytes() == PDF]
    assert len(stored) == 1 and doc_id in stored[0].name
    assert sql(engine, "SELECT COUNT(*) FROM document_blobs")[0][0] == 0
    assert engine.document(doc_id)[1] == PDF
    stored[0].write_bytes(PDF.replace(b"report", b"REPORT"))
    with pytest.raises(NotFound, match="校验失败"):
        engine.document(doc_id)


def test_in_the_database_documents_need_no_shared_disk(tmp_path: Path, clock: Clock,
                                                       scenarios: dict[str, Any]) -> None:
    here = make_engine(tmp_path, clock, documents_backend="database", documents_dir=tmp_path / "host-a")
    # another host: the same database, its own (empty) documents folder
    there = Engine({"database_url": here.config.database_url, "documents_dir": tmp_path / "host-b",
                    "documents_backend": "database"}, clock=clock, password_hasher=fast_hasher())  # type: ignore[arg-type]
    try:
        _, doc_id = upload_report(here, scenarios)
        last = None
        for last in drive(here, scenarios["lv_residential"]):  # its contract is generated on the way
            pass
        assert last is not None and last.status == "completed"
        generated = here.application(last.app_no).documents
        assert any(d.filename.endswith(".docx") for d in generated)
        assert files_under(tmp_path / "host-a") == [] and files_under(tmp_path / "host-b") == []
        info, content = there.document(doc_id)
        assert content == PDF and info.filename == "竣工报告.pdf"
        for doc in generated:
            assert len(there.document(doc.id)[1]) == doc.size
    finally:
        there.dispose()
        here.dispose()


def test_the_same_content_is_kept_once_and_a_changed_byte_is_caught(tmp_path: Path, clock: Clock,
                                                                     scenarios: dict[str, Any]) -> None:
    engine = make_engine(tmp_path, clock, documents_backend="database")
    try:
        _, first = upload_report(engine, scenarios)
        _, second = upload_report(engine, scenarios)
        assert first != second
        rows = sql(engine, "SELECT path, sha256 FROM documents WHERE id IN (:a, :b)", a=first, b=second)
        assert len({r.path for r in rows}) == 1 and rows[0].path == "sha256:" + rows[0].sha256
        assert sql(engine, "SELECT COUNT(*) FROM document_blobs WHERE sha256 = :s", s=rows[0].sha256)[0][0] == 1
        assert engine.document(second)[1] == PDF
        sql(engine, "UPDATE document_blobs SET content = :c WHERE sha256 = :s", c=PDF + b" ", s=rows[0].sha256)
        with pytest.raises(NotFound, match="校验失败"):
            engine.document(first)
    finally:
        engine.dispose()


def test_a_step_rolled_back_leaves_no_bytes_behind_in_the_database(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine(tmp_path, clock, documents_backend="database")
    try:
        with pytest.raises(RuntimeError):
            with engine.store.begin() as conn:
                engine.files.write(b"never committed", conn)
                raise RuntimeError("the step failed after keeping a document")
        assert sql(engine, "SELECT COUNT(*) FROM document_blobs")[0][0] == 0
    finally:
        engine.dispose()


def test_documents_kept_in_the_folder_stay_readable_after_moving_to_the_database(
        tmp_path: Path, clock: Clock, scenarios: dict[str, Any]) -> None:
    before = make_engine(tmp_path, clock)
    _, doc_id = upload_report(before, scenarios)
    before.dispose()
    after = make_engine(tmp_path, clock, documents_backend="database")
    try:
        assert after.document(doc_id)[1] == PDF
        _, new_id = upload_report(after, scenarios, PDF + b"% v2\n")
        assert after.document(new_id)[1] == PDF + b"% v2\n"
        assert len([p for p in files_under(after.config.documents) if p.read_bytes().startswith(b"%PDF")]) == 1
    finally:
        after.dispose()


def test_the_backend_is_chosen_by_configuration_and_checked(tmp_path: Path) -> None:
    environ = {"BAOZHUANG_DOCUMENTS_BACKEND": "database", "BAOZHUANG_INSTANCE_DIR": str(tmp_path)}
    assert load_config(environ=environ).documents_backend == "database"
    assert load_config({"documents_backend": "directory"}, environ=environ).documents_backend == "directory"
    with pytest.raises(ConfigurationError, match="documents_backend 必须是 directory 或 database"):
        load_config({"documents_backend": "s3"}, environ={"BAOZHUANG_INSTANCE_DIR": str(tmp_path)})
