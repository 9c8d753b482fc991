"""Property-based fuzzing of every form and every API field: hostile values (wrong types, huge strings, odd
unicode, NaN, nested junk, missing and extra fields) never cause a 500; bad input is a 400 with a Chinese
message; and a rejected request writes nothing (application row, revision, workflow rows, work items, audit
events, documents, and the row count of every table unchanged)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine import Engine
from cli.demo import Scenario, actor_for, do_field_work

from tests.conftest import PROCESSES
from tests.reliability.conftest import CHINESE, Api, Fingerprint, assert_chinese_error

EXAMPLES_PER_FORM = 12
EXAMPLES = 60
FUZZ = settings(max_examples=EXAMPLES_PER_FORM, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30)  # Cs: not encodable at all
HUGE = st.sampled_from(["x" * 300_000, "中" * 100_000, "\u202e\u0000" * 2000, "😀" * 20_000, " " * 5000,
                        "\x00", "'; DROP TABLE applications; --", "%_%", "../../etc/passwd", "{{7*7}}"])
NUMBERS = (st.integers() | st.integers(min_value=2**63) | st.integers(max_value=-(2**63))
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([10**400, -0.0, 1e308, 5e-324]))
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT | HUGE
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)


@st.composite
def mutated(draw: st.DrawFn, schema: dict[str, Any], valid: dict[str, Any]) -> dict[str, Any]:
    """A valid submission with 1–4 fields replaced by junk, required fields dropped, or unknown fields added."""
    data = dict(valid)
    fields = sorted(schema.get("properties", {})) or ["_"]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "replace", "drop", "extra"]))
        if op == "replace":
            data[draw(st.sampled_from(fields))] = draw(JUNK)
        elif op == "drop" and data:
            data.pop(draw(st.sampled_from(sorted(data))))
        else:
            data[draw(TEXT)] = draw(JUNK)
    return data


BOUNDED_TEXT_ALPHABET = st.characters(exclude_categories=("Cs",))


def extreme_but_valid(prop: dict[str, Any]) -> st.SearchStrategy[Any] | None:
    """Values a field's schema allows at its edges (odd unicode up to maxLength, huge or tiny numbers), or
    None for fields whose rules are richer than this sketch (patterns, formats, staff pickers)."""
    if "pattern" in prop or "format" in prop or "x-userRoles" in prop:
        return None
    kinds = prop.get("type") if isinstance(prop.get("type"), list) else [prop.get("type")]
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if "string" in kinds:
        return st.text(BOUNDED_TEXT_ALPHABET, min_size=prop.get("minLength", 0), max_size=prop.get("maxLength", 2000))
    if "integer" in kinds or "number" in kinds:
        low = prop.get("minimum", prop.get("exclusiveMinimum", -(10**30)))
        high = prop.get("maximum", prop.get("exclusiveMaximum", 10**30))
        ints = st.integers(min_value=int(math.floor(low)) + 1, max_value=int(math.ceil(high)) - 1)
        if "number" in kinds:
            return ints | st.floats(min_value=float(low), max_value=float(high), exclude_min=True,
                                    exclude_max=True) | st.sampled_from([10**300 if high >= 10**30 else high])
        return ints
    if "boolean" in kinds:
        return st.booleans()
    if "array" in kinds and isinstance(prop.get("items"), dict) and "enum" in prop["items"]:
        return st.lists(st.sampled_from(prop["items"]["enum"]), unique=True)
    return None


@st.composite
def edge_of_valid(draw: st.DrawFn, schema: dict[str, Any], valid: dict[str, Any]) -> dict[str, Any]:
    """A valid submission with 1–4 fields moved to the edges of what the schema allows."""
    data = dict(valid)
    choices = {name: strategy for name, prop in sorted(schema.get("properties", {}).items())
               if (strategy := extreme_but_valid(prop)) is not None}
    for name in draw(st.lists(st.sampled_from(sorted(choices)), min_size=1, max_size=4, unique=True)):
        data[name] = draw(choices[name])
    return data


def body_bytes(body: Any) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity included, non-ASCII raw."""
    return json.dumps(body, ensure_ascii=False, allow_nan=True).encode("utf-8")


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def is_valid(validator: Draft202012Validator, data: Any) -> bool:
    """Valid by the form's schema (JSON has no NaN: a submission carrying one is never valid)."""
    text = json.dumps(data, allow_nan=True)
    return "NaN" not in text and "Infinity" not in text and validator.is_valid(data)


def fuzz_task_form(channel: Api, task_id: str, schema: dict[str, Any], valid: dict[str, Any],
                   snapshot: Callable[[], dict[str, Any]]) -> None:
    """Submit hostile variants of a valid submission to one ready task: each is a 400 and writes nothing."""
    validator = schema_validator(schema)

    @FUZZ
    @given(data=mutated(schema, valid))
    def check(data: dict[str, Any]) -> None:
        assume(not is_valid(validator, data))
        before = snapshot()
        response = channel.post_raw(f"/tasks/{task_id}/complete", body_bytes({"data": data}))
        assert_chinese_error(response, 400)
        assert snapshot() == before, "a rejected completion wrote something"

    check()


def test_every_task_form_rejects_hostile_submissions_with_a_400_and_writes_nothing(
        engine: Engine, api: Callable[[str], Api], scenarios: dict[str, Scenario]) -> None:
    forms = {p.name for p in (PROCESSES / "forms").glob("*.json")}
    start_forms = {f"{key}_accept.json" for key in ("hv", "lv", "pv")}
    fuzzed: set[str] = set()
    fingerprint = Fingerprint(engine)
    channels: dict[str, Api] = {}

    def channel(user: str) -> Api:
        if user not in channels:
            channels[user] = api(user)
        return channels[user]

    for scenario in scenarios.values():
        result = channel("frontdesk").post("/applications", {"process": scenario.process, "data": dict(scenario.start)})
        assert result.status_code == 201, result.get_json()
        app_no, ready = result.get_json()["app_no"], result.get_json()["ready_tasks"]
        for step in scenario.steps:
            if not {t["form"] for t in ready} - fuzzed and all(
                    f"{s.node}.json" in fuzzed for s in scenario.steps[scenario.steps.index(step):]):
                break  # nothing left on this path that has not been fuzzed
            task = next(t for t in ready if t["node_id"] == step.node)
            user = actor_for(engine, task["role"], task["assignee"])
            do_field_work(engine, task["id"], user)
            if task["form"] not in fuzzed:
                form = channel(user).get(f"/tasks/{task['id']}").get_json()["form_definition"]
                fuzz_task_form(channel(user), task["id"], form["schema"], dict(step.data),
                               lambda: fingerprint(app_no))
                fuzzed.add(task["form"])
            done = channel(user).post(f"/tasks/{task['id']}/complete", {"data": dict(step.data)})
            assert done.status_code == 200, done.get_json()  # the task still takes its valid submission
            ready = done.get_json()["ready_tasks"]
    assert fuzzed == forms - start_forms, f"forms never fuzzed: {sorted(forms - start_forms - fuzzed)}"


def test_every_acceptance_form_answers_hostile_data_with_201_or_400_never_a_partial_write(
        engine: Engine, api: Callable[[str], Api], scenarios: dict[str, Scenario]) -> None:
    desk = api("frontdesk")
    fingerprint = Fingerprint(engine)
    valid = {s.process: dict(s.start) for s in reversed(list(scenarios.values()))}
    schemas = {key: json.loads((PROCESSES / "forms" / f"{key}_accept.json").read_text(encoding="utf-8"))
               for key in valid}

    outcomes: list[int] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(process=st.sampled_from(sorted(valid)), data=st.data())
    def check(process: str, data: st.DataObject) -> None:
        edges = data.draw(st.booleans())
        submitted = data.draw((edge_of_valid if edges else mutated)(schemas[process], valid[process]))
        before = fingerprint()
        response = desk.post_raw("/applications", body_bytes({"process": process, "data": submitted}))
        assert response.status_code in (201, 400), (response.status_code, response.get_data(as_text=True)[:300])
        if edges and is_valid(schema_validator(schemas[process]), submitted):
            outcomes.append(response.status_code)
        if response.status_code == 400:
            assert CHINESE.search(response.get_json()["error"]["message"])
            assert fingerprint() == before, "a rejected application wrote something"
            return
        assert is_valid(schema_validator(schemas[process]), submitted), "accepted data its own form rejects"
        app_no = response.get_json()["app_no"]
        assert engine.verify_audit(app_no).intact
        assert desk.get(f"/applications/{app_no}").status_code == 200

    check()
    assert 201 in outcomes, f"no edge-of-valid application was accepted: {outcomes}"


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 100_000).map(lambda n: b'{"data": ' + b'{"a":' * n + b"1" + b"}" * n + b"}"),
    st.sampled_from([b"", b" ", b"null", b"[]", b'"data"', b"1e999", b'{"data": NaN}', b'{"data": Infinity}',
                     b'{"data": {"x": -Infinity}}', b'{"data": {}, "data": []}', b"\xef\xbb\xbf{}",
                     b'{"data": "\\ud800"}', b'{"data": {"\\u0000": 1}}', b"\xff\xfe{\x00}\x00"]),
    JUNK.map(body_bytes),
    st.dictionaries(TEXT, JUNK, max_size=4).map(body_bytes),
)
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"])


def test_raw_request_bodies_never_cause_a_500_or_a_write(
        engine: Engine, api: Callable[[str], Api], scenarios: dict[str, Scenario]) -> None:
    desk = api("frontdesk")
    started = desk.post("/applications", {"process": "lv", "data": dict(scenarios["lv_residential"].start)})
    app_no, task_id = started.get_json()["app_no"], started.get_json()["ready_tasks"][0]["id"]
    fingerprint = Fingerprint(engine)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(payload=RAW_BODIES, content_type=CONTENT_TYPES, target=st.sampled_from(["start", "complete"]))
    def check(payload: bytes, content_type: str, target: str) -> None:
        path = "/applications" if target == "start" else f"/tasks/{task_id}/complete"
        before = fingerprint(app_no)
        response = desk.post_raw(path, payload, content_type)
        assert_chinese_error(response, 400)
        assert fingerprint(app_no) == before

    check()


PARAM_NAMES = st.sampled_from(["scope", "process", "node", "q", "page", "per_page", "status", "x"])
PARAM_VALUES = st.one_of(TEXT, HUGE, st.integers().map(str), st.sampled_from(["mine", "pool", "all", "0", "-1",
                                                                              "201", "1e3", "１", "NaN"]))


def test_query_and_path_parameters_never_cause_a_500_or_a_write(
        engine: Engine, api: Callable[[str], Api], scenarios: dict[str, Scenario]) -> None:
    marketing, desk = api("marketing"), api("frontdesk")
    started = desk.post("/applications", {"process": "lv", "data": dict(scenarios["lv_residential"].start)})
    app_no = started.get_json()["app_no"]
    fingerprint = Fingerprint(engine)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(params=st.dictionaries(PARAM_NAMES, PARAM_VALUES, max_size=5), who=st.sampled_from(["desk", "marketing"]))
    def listing(params: dict[str, str], who: str) -> None:
        response = (desk if who == "desk" else marketing).get("/tasks", query_string=params)
        assert response.status_code in (200, 400, 403), response.status_code
        if response.status_code != 200:
            assert CHINESE.search(response.get_json()["error"]["message"])
        else:
            assert response.get_json()["per_page"] <= 200

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(ident=st.one_of(TEXT, HUGE, st.sampled_from(["%%%%%%", "______", "%" * 36, "_" * 36, app_no[:6]])),
           action=st.sampled_from(["GET task", "claim", "release", "complete", "GET application"]))
    def by_id(ident: str, action: str) -> None:
        segment = quote(ident, safe="")
        before = fingerprint(app_no)
        if action == "GET task":
            response = desk.get(f"/tasks/{segment}")
        elif action == "GET application":
            response = desk.get(f"/applications/{segment}")
        else:
            response = desk.post(f"/tasks/{segment}/{action}", {"data": {}} if action == "complete" else None)
        assert response.status_code in (400, 403, 404, 405, 409), (response.status_code, ident)
        assert CHINESE.search(response.get_json()["error"]["message"])
        assert fingerprint(app_no) == before

    listing()
    by_id()


def test_like_wildcards_in_a_task_id_prefix_match_no_task(engine: Engine, api: Callable[[str], Api],
                                                          scenarios: dict[str, Scenario]) -> None:
    desk = api("frontdesk")
    task_id = desk.post("/applications", {"process": "lv", "data": dict(scenarios["lv_residential"].start)}
                        ).get_json()["ready_tasks"][0]["id"]
    assert desk.get(f"/tasks/{task_id[:6]}").status_code == 200  # a real prefix still works
    for wildcard in ("%%%%%%", "______", task_id[:5] + "%", task_id[:5] + "_"):
        assert_chinese_error(desk.get(f"/tasks/{quote(wildcard)}"), 404)
        assert_chinese_error(desk.post(f"/tasks/{quote(wildcard)}/claim"), 404)
    assert engine.task(task_id).claimed_by is None


def test_json_nested_too_deep_is_a_400(api: Callable[[str], Api], engine: Engine) -> None:
    error = assert_chinese_error(api("frontdesk").post_raw("/applications", b"[" * 100_000 + b"]" * 100_000), 400)
    assert "嵌套" in error["message"]
    assert engine.applications() == []


def test_nul_characters_anywhere_are_a_400_not_a_database_error(api: Callable[[str], Api], engine: Engine,
                                                                 scenarios: dict[str, Scenario]) -> None:
    """PostgreSQL refuses NUL in text; SQLite takes it. Either way it is bad input, refused before the database."""
    desk = api("frontdesk")
    started = desk.post("/applications", {"process": "lv", "data": dict(scenarios["lv_residential"].start)})
    app_no, task_id = started.get_json()["app_no"], started.get_json()["ready_tasks"][0]["id"]
    fingerprint = Fingerprint(engine)
    before = fingerprint(app_no)
    for response in (desk.get("/tasks?q=%00"), desk.get("/tasks?node=a%00b"), desk.get("/tasks?process=%00"),
                     desk.get("/tasks/%00abcdef"), desk.get("/applications/LV%00"),
                     desk.post(f"/tasks/{task_id}/complete", {"data": {"signed": True, "signed_on": "2026-11-23\x00"}}),
                     desk.post("/applications", {"process": "lv", "data": {**scenarios["lv_residential"].start,
                                                                           "customer_name": "张\x00伟"}})):
        assert "空字符" in assert_chinese_error(response, 400)["message"]
    assert fingerprint(app_no) == before
