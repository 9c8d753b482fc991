"""The deploy-time gate: hostile or broken diagrams are rejected with reasons and run nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import DiagramRejected, Engine

from tests.engine.diagrams import FORM, loop, simple
from tests.engine.hostile import HOSTILE, SECRET, Hostile, hostile_ids

REPO = Path(__file__).resolve().parents[2]
MIWG = REPO / "tests" / "fixtures" / "miwg"


@pytest.fixture
def forms_dir(tmp_path: Path) -> Path:
    d = tmp_path / "forms"
    d.mkdir()
    (d / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    return d


def test_a_clean_diagram_passes(bare_engine: Engine, forms_dir: Path) -> None:
    diagram = bare_engine.validate(simple().encode(), "ok.bpmn", forms_dir)
    assert diagram.process_id == "lv"
    assert diagram.nodes["review"].role == "customer_manager"
    assert diagram.form_for("review") is not None


@pytest.mark.parametrize("hostile", HOSTILE, ids=hostile_ids())
def test_hostile_diagram_is_rejected_with_its_reasons_and_runs_nothing(
        bare_engine: Engine, forms_dir: Path, tmp_path: Path, hostile: Hostile) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(DiagramRejected) as info:
        bare_engine.validate(hostile.diagram(scratch), "x.bpmn", forms_dir)
    reasons = info.value.reasons
    assert not hostile.missing(reasons), [f"{r.code}@{r.element_id}: {r.message}" for r in reasons]
    assert not any(SECRET in str(r) for r in reasons)
    assert list(scratch.iterdir()) == ([scratch / "secret.txt"] if hostile.reads_secret else [])


def test_send_back_loop_with_a_user_task_is_fine(bare_engine: Engine, forms_dir: Path) -> None:
    assert bare_engine.validate(loop().encode(), "loop.bpmn", forms_dir).process_id == "lv"


def test_rejected_deploy_stores_nothing(bare_engine: Engine, forms_dir: Path) -> None:
    with pytest.raises(DiagramRejected):
        bare_engine.deploy(loop("open('x')").encode(), "bad.bpmn", "analyst", forms_dir=forms_dir)
    assert bare_engine.versions() == []
    v = bare_engine.deploy(loop().encode(), "good.bpmn", "analyst", "ok", forms_dir=forms_dir)
    assert (v.process_key, v.version) == ("lv", 1)


def test_every_miwg_corpus_file_is_accepted_or_rejected_with_reasons(bare_engine: Engine) -> None:
    files = sorted(MIWG.rglob("*.bpmn"))
    assert len(files) >= 40
    for path in files:
        try:
            bare_engine.validate(path.read_bytes(), path.name)
        except DiagramRejected as exc:
            assert exc.reasons, path
            assert all(str(r) for r in exc.reasons)
