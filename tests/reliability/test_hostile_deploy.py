"""The hostile-diagram suite (tests/engine/hostile.py) against the HTTP deploy routes of the modeller and the
CLI's validate and deploy: every diagram is rejected with its reasons in Chinese, nothing is deployed, and
nothing a diagram says runs (no canary file, no secret read back)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from engine import DiagramRejected, Engine, Reason
from webui import create_app
from cli.main import main

from tests.conftest import PROCESSES, Clock, Staff, make_engine
from tests.engine.diagrams import FORM, simple
from tests.engine.hostile import HOSTILE, SECRET, Hostile, hostile_ids
from tests.reliability.conftest import CHINESE


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def modeller_engine(workspace: Path) -> Iterator[Engine]:
    """One engine for the module (setting one up per diagram would take most of the run): its processes
    folder is the shipped one plus the test diagrams' form, t.json."""
    processes = workspace / "processes"
    shutil.copytree(PROCESSES, processes)
    (processes / "forms" / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    eng = make_engine(workspace, Clock(datetime(2026, 11, 23, 9, 0, 0)), processes_dir=processes)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def analyst(modeller_engine: Engine) -> Staff:
    app: Flask = create_app({"TESTING": True, "SECRET_KEY": "test-secret"}, engine=modeller_engine)
    return Staff(app.test_client()).login("analyst")


def as_text(data: bytes) -> str:
    """The diagram as the modeller's browser would hold it: text."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def json_post(user: Staff, url: str, body: dict[str, Any]) -> Any:
    return user.client.post(url, json=body, headers={"X-CSRFToken": user.csrf_token()})


def gate_reasons(engine: Engine, data: bytes, forms: Path | None = None) -> tuple[Reason, ...]:
    with pytest.raises(DiagramRejected) as info:
        engine.validate(data, "lv.bpmn", forms)
    return info.value.reasons


def assert_ran_nothing(hostile: Hostile, scratch: Path, *outputs: str) -> None:
    assert list(scratch.iterdir()) == ([scratch / "secret.txt"] if hostile.reads_secret else [])
    assert not any(SECRET in out for out in outputs)


def test_the_modeller_accepts_a_clean_diagram_on_the_same_routes(analyst: Staff, modeller_engine: Engine) -> None:
    before = modeller_engine.latest_version("lv")
    assert before is not None
    saved = json_post(analyst, "/modeller/lv/drafts", {"xml": simple(), "comment": "对照"})
    assert saved.status_code == 200 and saved.get_json()["problems"] == [] and saved.get_json()["deployable"]
    deployed = json_post(analyst, f"/modeller/drafts/{saved.get_json()['draft_id']}/deploy", {"comment": "对照"})
    assert deployed.status_code == 200, deployed.get_json()
    newest = modeller_engine.latest_version("lv")
    assert newest is not None and newest.version == deployed.get_json()["version"] == before.version + 1


@pytest.mark.parametrize("hostile", HOSTILE, ids=hostile_ids())
def test_hostile_diagram_is_rejected_over_http_with_its_reasons_and_nothing_deployed(
        analyst: Staff, modeller_engine: Engine, tmp_path: Path, hostile: Hostile) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    text = as_text(hostile.diagram(scratch))
    versions, drafts = modeller_engine.versions(), modeller_engine.drafts()

    saved = json_post(analyst, "/modeller/lv/drafts", {"xml": text, "comment": "恶意"})
    if not text.strip() or "\x00" in text:  # nothing to keep as a draft (NUL is never XML): refused outright
        assert saved.status_code == 400 and CHINESE.search(saved.get_data(as_text=True))
        assert modeller_engine.drafts() == drafts and modeller_engine.versions() == versions
        return
    assert saved.status_code == 200, saved.get_data(as_text=True)[:500]
    body = saved.get_json()
    problems = [Reason(p["code"], p["message"], p["element_id"]) for p in body["problems"]]
    assert not body["deployable"] and problems == list(gate_reasons(modeller_engine, text.encode("utf-8")))
    assert not hostile.missing(problems), problems
    assert all(CHINESE.search(p.message) for p in problems), problems

    deployed = json_post(analyst, f"/modeller/drafts/{body['draft_id']}/deploy", {"comment": "恶意"})
    assert deployed.status_code == 400
    error = deployed.get_json()["error"]
    assert CHINESE.search(error["message"]) and len(error["problems"]) == len(problems)
    form_deploy = analyst.post(f"/modeller/drafts/{body['draft_id']}/deploy", {"comment": "恶意"})
    assert form_deploy.status_code == 400 and CHINESE.search(form_deploy.get_data(as_text=True))

    assert modeller_engine.versions() == versions
    (draft,) = [d for d in modeller_engine.drafts() if d.id == body["draft_id"]]
    assert draft.deployed_version is None and draft.problems
    assert_ran_nothing(hostile, scratch, saved.get_data(as_text=True), deployed.get_data(as_text=True))


@pytest.fixture
def cli(modeller_engine: Engine, tmp_path: Path) -> Callable[..., Any]:
    """The CLI on the same database; a diagram file gets the test form beside it (forms/t.json)."""
    def run(*args: str) -> Any:
        result = CliRunner().invoke(main, ["--db", modeller_engine.config.database_url,
                                           "--documents", str(tmp_path / "cli-docs"), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output
        return result
    return run


@pytest.mark.parametrize("hostile", HOSTILE, ids=hostile_ids())
def test_hostile_diagram_is_rejected_by_the_cli_with_every_reason_and_nothing_deployed(
        cli: Callable[..., Any], modeller_engine: Engine, tmp_path: Path, hostile: Hostile) -> None:
    scratch, folder = tmp_path / "scratch", tmp_path / "upload"
    scratch.mkdir()
    (folder / "forms").mkdir(parents=True)
    (folder / "forms" / "t.json").write_text(json.dumps(FORM, ensure_ascii=False), encoding="utf-8")
    data = hostile.diagram(scratch)
    path = folder / f"{hostile.name}.bpmn"
    path.write_bytes(data)
    expected = gate_reasons(modeller_engine, data, folder / "forms")
    assert not hostile.missing(expected), expected
    versions = modeller_engine.versions()

    checked = cli("validate", str(path))
    assert checked.exit_code == 1
    assert f"✗ {path}：{len(expected)} 个问题" in checked.output
    assert re.findall(r"^    - (.+)$", checked.output, re.MULTILINE) == [str(r) for r in expected]

    deployed = cli("deploy", str(path), str(PROCESSES / "lv.bpmn"), "--as", "analyst")
    assert deployed.exit_code == 1 and "未部署任何文件" in deployed.output
    assert modeller_engine.versions() == versions
    assert_ran_nothing(hostile, scratch, checked.output, deployed.output)
