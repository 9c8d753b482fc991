"""Property-based: every field of every form — acceptance and task forms, through the API and the web form — given a
lone surrogate, a number too big for any quantity, bytes that are not UTF-8, or a NUL, is a 400 with a Chinese
message at that very field, and nothing is written (every table's row count and the application's rows unchanged).

The web page also keeps the form: the other inputs come back with what was typed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.demo import Scenario, actor_for, do_field_work
from engine import Engine

from tests.conftest import PROCESSES, Staff
from tests.reliability.conftest import CHINESE, Api, Fingerprint
from tests.web.test_tasks import as_form

EXAMPLES = settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# What a JSON body can carry that is not a value any field may hold.
HOSTILE_JSON = st.sampled_from([
    "\ud800", "客户\udfff名称", "\udbff\udc00x\ud800",  # lone surrogates (the last one pairs, then one stands alone)
    10**400, -(10**400), 10**15, 1e300, -1e300,  # beyond any quantity
    "\x00", "江南\x00精密", "2025-03-05\x00",  # NUL
])
# What a browser post can carry: percent-escapes of bytes that are not UTF-8, a NUL, an overlong number,
# a surrogate encoded as bytes (CESU-8, not UTF-8).
HOSTILE_FORM = st.sampled_from(["%FF%FE%FD", "%C0%AF", "abc%80", "%ED%A0%80", "%00", "a%00b"])
HUGE_NUMBER = "1" + "0" * 400  # hostile to a number field only: as text it is just digits


def hostile_form(schema: dict[str, Any], field: str) -> st.SearchStrategy[str]:
    prop = schema.get("properties", {}).get(field, {})
    kinds = prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]
    return HOSTILE_FORM | st.just(HUGE_NUMBER) if {"number", "integer"} & set(kinds) else HOSTILE_FORM


def start_forms() -> dict[str, dict[str, Any]]:
    return {key: json.loads((PROCESSES / "forms" / f"{key}_accept.json").read_text(encoding="utf-8"))
            for key in ("hv", "lv", "pv")}


def with_hostile(data: dict[str, Any], field: str, value: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """The valid submission with one field's value (or one item of a list field) made hostile."""
    prop = schema.get("properties", {}).get(field, {})
    kinds = prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]
    return {**data, field: [value] if "array" in kinds else value}


def form_body(data: dict[str, Any], field: str, hostile: str, csrf: str, extra: dict[str, str]) -> bytes:
    """A url-encoded post of the valid form with one field's text replaced by raw hostile escapes."""
    pairs = [("csrf_token", csrf), *extra.items()]
    body = "&".join(f"{quote(k)}={quote(v)}" for k, v in pairs)
    for key, value in as_form(data).items():
        if key == field:
            continue
        for item in value if isinstance(value, list) else [value]:
            body += f"&{quote(key)}={quote(item)}"
    return (body + f"&{quote(field)}={hostile}").encode("ascii")


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<div class="field-error" data-field="{re.escape(field)}"[^>]*>([^<]*)</div>', page)
    return match.group(1) if match else None


def test_every_acceptance_field_refuses_what_is_not_a_value_at_that_field(
        engine: Engine, api: Callable[[str], Api], staff: Callable[[str], Staff],
        scenarios: dict[str, Scenario]) -> None:
    schemas = start_forms()
    valid = {s.process: dict(s.start) for s in reversed(list(scenarios.values()))}
    desk, clerk = api("frontdesk"), staff("frontdesk")
    fingerprint = Fingerprint(engine)
    checked: set[tuple[str, str]] = set()

    @EXAMPLES
    @given(process=st.sampled_from(sorted(valid)), data=st.data())
    def check(process: str, data: st.DataObject) -> None:
        field = data.draw(st.sampled_from(sorted(schemas[process]["properties"])))
        before = fingerprint()
        body = {"process": process, "data": with_hostile(valid[process], field, data.draw(HOSTILE_JSON),
                                                         schemas[process])}
        response = desk.post_raw("/applications", json.dumps(body, ensure_ascii=True).encode("ascii"))
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        error = response.get_json()["error"]
        assert CHINESE.search(error["fields"][field]), error
        hostile = data.draw(hostile_form(schemas[process], field))
        page = clerk.client.post(f"/accept?variant={process}", content_type="application/x-www-form-urlencoded",
                                 data=form_body(valid[process], field, hostile, clerk.csrf_token(),
                                                {"customer_type": str(valid[process]["customer_type"])}))
        text = page.get_data(as_text=True)
        assert page.status_code == 400, text[:300]
        if field != "customer_type":  # the business and customer type come from the first step
            assert CHINESE.search(field_error(text, field) or ""), (field, hostile)
            assert 'value="' + str(valid[process]["contact_phone"]) + '"' in text or field == "contact_phone"
        assert fingerprint() == before
        checked.add((process, field))

    check()
    assert checked


def test_every_task_form_field_refuses_what_is_not_a_value_at_that_field(
        engine: Engine, api: Callable[[str], Api], staff: Callable[[str], Staff],
        scenarios: dict[str, Scenario]) -> None:
    forms = {p.name for p in (PROCESSES / "forms").glob("*.json")} - {f"{k}_accept.json" for k in ("hv", "lv", "pv")}
    fingerprint = Fingerprint(engine)
    channels: dict[str, Api] = {}
    people: dict[str, Staff] = {}
    done: set[str] = set()

    def channel(user: str) -> Api:
        channels.setdefault(user, api(user))
        return channels[user]

    def person(user: str) -> Staff:
        people.setdefault(user, staff(user))
        return people[user]

    for scenario in scenarios.values():
        if all(f"{s.node}.json" in done for s in scenario.steps):
            continue
        result = engine.start(scenario.process, scenario.start, "frontdesk")
        for step in scenario.steps:
            task = next(t for t in result.ready_tasks if t.node_id == step.node)
            user = actor_for(engine, task.role, task.assignee)
            do_field_work(engine, task.id, user)
            if task.form not in done:
                schema = channel(user).get(f"/tasks/{task.id}").get_json()["form_definition"]["schema"]
                fuzz_one_form(task.id, task.app_no, schema, dict(step.data), channel(user), person(user), fingerprint)
                done.add(task.form)
            result = engine.complete(task.id, user, dict(step.data))
    assert done == forms, sorted(forms - done)


def fuzz_one_form(task_id: str, app_no: str, schema: dict[str, Any], valid: dict[str, Any], channel: Api,
                  person: Staff, fingerprint: Fingerprint) -> None:
    fields = sorted(schema.get("properties", {}))

    @EXAMPLES
    @given(field=st.sampled_from(fields), value=HOSTILE_JSON, data=st.data())
    def check(field: str, value: Any, data: st.DataObject) -> None:
        hostile = data.draw(hostile_form(schema, field))
        before = fingerprint(app_no)
        body = {"data": with_hostile(valid, field, value, schema)}
        response = channel.post_raw(f"/tasks/{task_id}/complete", json.dumps(body, ensure_ascii=True).encode("ascii"))
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert CHINESE.search(response.get_json()["error"]["fields"][field])
        page = person.client.post(f"/tasks/{task_id}", content_type="application/x-www-form-urlencoded",
                                  data=form_body(valid, field, hostile, person.csrf_token(), {}))
        text = page.get_data(as_text=True)
        assert page.status_code == 400, (field, hostile, text[:300])
        assert CHINESE.search(field_error(text, field) or ""), (field, hostile)
        assert fingerprint(app_no) == before

    check()
