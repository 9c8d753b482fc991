"""Analysts' drafts: kept with their problems, deployable only when the gate passes, versions counted."""

from __future__ import annotations

import pytest

from engine import Conflict, DiagramRejected, Engine
from cli.demo import drive, load_scenarios

from tests.conftest import PROCESSES

HV = (PROCESSES / "hv.bpmn").read_bytes()


def test_a_draft_with_problems_is_kept_but_never_deployed(engine: Engine) -> None:
    broken = HV.replace(b'name="\xe4\xb8\x9a\xe5\x8a\xa1\xe5\x8f\x97\xe7\x90\x86"', b'name="x"', 1)  # keep it XML
    broken = broken.replace(b'id="select_survey_mode"', b'id="no_such_operator"', 1)
    draft = engine.save_draft("hv", broken, "analyst", "试改")
    assert draft.problems and not draft.deployable
    assert any(p.code == "unknown_operator" and p.element_id for p in draft.problems)
    with pytest.raises(DiagramRejected):
        engine.deploy_draft(draft.id, "analyst")
    assert [v.version for v in engine.versions("hv")] == [1]
    info, xml = engine.draft(draft.id)
    assert info.id == draft.id and "no_such_operator" in xml


def test_a_clean_draft_deploys_as_the_next_version_once(engine: Engine) -> None:
    renamed = HV.replace("现场勘查（客户经理）".encode(), "现场勘查（客户经理，新版）".encode(), 1)
    draft = engine.save_draft("hv", renamed, "analyst", "改名")
    assert draft.deployable and draft.base_version == 1
    version = engine.deploy_draft(draft.id, "analyst")
    assert version.version == 2 and "新版" in engine.version_xml("hv", 2)
    with pytest.raises(Conflict):
        engine.deploy_draft(draft.id, "analyst")
    assert engine.drafts("hv")[0].deployed_version == 2


def test_a_draft_for_the_wrong_process_is_a_problem(engine: Engine) -> None:
    draft = engine.save_draft("lv", HV, "analyst")
    assert any(p.code == "process_id" for p in draft.problems)


def test_versions_count_their_running_applications(engine: Engine) -> None:
    scenario = next(s for s in load_scenarios(PROCESSES / "paths.json") if s.name == "hv_solo")
    for _ in drive(engine, scenario, stop_after=2):
        pass
    assert {v.version: v.running for v in engine.versions("hv")} == {1: 1}
