"""The JSON API for other channels: bearer tokens, roles, the LV path end to end, errors, the OpenAPI document."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator

from engine import Engine
from cli.demo import Scenario, actor_for

API = "/api/v1"


class Channel:
    """A client calling the API with one user's token."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(API + path, headers=self.headers, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        if body is not None:
            kwargs["json"] = body
        return self.client.post(API + path, headers=self.headers, **kwargs)


@pytest.fixture
def channel(app: Flask, engine: Engine) -> Callable[[str], Channel]:
    """A client with a fresh API token of a user: ``channel("frontdesk")``."""
    return lambda username: Channel(app.test_client(), engine.create_api_token(username, "网上国网", by="admin"))


@pytest.fixture
def second_desk(engine: Engine) -> str:
    """Another person at the front desk, to see what one person's action does to the other."""
    return engine.create_user("frontdesk2", "柜台受理员 钱多", ["front_desk"], "baozhuang").username


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    response = app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def conforms(spec: dict[str, Any], schema: str, instance: Any) -> None:
    """Assert a response body matches a component schema, allowing no undocumented fields."""
    components = copy.deepcopy(spec["components"])

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and "allOf" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    for name, s in components["schemas"].items():
        if name not in ("FormDefinition",):  # a form's schema is free-form by design
            close(s)
    # allOf with closed parts cannot be combined: check TaskDetail's parts by hand.
    if schema == "TaskDetail":
        instance = dict(instance)
        assert instance.pop("form_definition", "missing") != "missing"
        schema = "Task"
    root = {"$ref": f"#/components/schemas/{schema}", "components": components}
    errors = sorted(Draft202012Validator(root).iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def start_lv(channel: Callable[[str], Channel], scenarios: dict[str, Scenario]) -> dict[str, Any]:
    scenario = scenarios["lv_residential"]
    response = channel("frontdesk").post("/applications", {"process": "lv", "data": dict(scenario.start)})
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


# ----------------------------------------------------------------------------- authentication


def test_requests_without_a_token_get_401_with_a_bearer_challenge(app: Flask) -> None:
    response = Channel(app.test_client(), None).get("/tasks")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.get_json()["error"]
    assert error["status"] == 401 and "令牌" in error["message"]


def test_a_bad_token_gets_401_invalid_token(app: Flask) -> None:
    response = Channel(app.test_client(), "not-a-real-token").post("/applications", {"process": "lv", "data": {}})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert "无效" in response.get_json()["error"]["message"]


def test_a_browser_session_is_not_enough_for_the_api(staff: Callable[[str], Any]) -> None:
    user = staff("frontdesk")
    response = user.get(f"{API}/tasks")
    assert response.status_code == 401


def test_a_token_acts_with_its_users_roles(channel: Callable[[str], Channel],
                                            scenarios: dict[str, Scenario]) -> None:
    refused = channel("auditor").post("/applications", {"process": "lv", "data": dict(scenarios["lv_residential"].start)})
    assert refused.status_code == 403 and "受理员" in refused.get_json()["error"]["message"]

    started = start_lv(channel, scenarios)
    task_id = started["ready_tasks"][0]["id"]
    assert started["ready_tasks"][0]["role"] == "front_desk"
    wrong_role = channel("survey").post(f"/tasks/{task_id}/complete", {"data": dict(scenarios["lv_residential"].steps[0].data)})
    assert wrong_role.status_code == 403 and "受理员" in wrong_role.get_json()["error"]["message"]
    assert channel("survey").post(f"/tasks/{task_id}/claim").status_code == 403
    assert channel("manager1").get("/tasks?scope=all").status_code == 403


# ----------------------------------------------------------------------------- the LV path end to end


def test_lv_residential_path_runs_to_completion_through_the_api(
        channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario],
        spec: dict[str, Any]) -> None:
    scenario = scenarios["lv_residential"]
    response = channel("frontdesk").post("/applications", {"process": "lv", "data": dict(scenario.start)})
    assert response.status_code == 201
    created = response.get_json()
    conforms(spec, "StepResult", created)
    app_no = created["app_no"]
    assert created["status"] == "running" and created["ready_tasks"]
    assert response.headers["Location"] == f"{API}/applications/{app_no}"

    for step in scenario.steps:
        role = next(t["role"] for t in created["ready_tasks"] if t["node_id"] == step.node)
        assignee = next(t["assignee"] for t in created["ready_tasks"] if t["node_id"] == step.node)
        name = actor_for(engine, role, assignee)
        worker = channel(name)
        listed = worker.get(f"/tasks?scope=pool&q={app_no}&node={step.node}")
        assert listed.status_code == 200
        page = listed.get_json()
        conforms(spec, "TaskPage", page)
        assert page["total"] == 1 and page["items"][0]["app_no"] == app_no
        task_id = page["items"][0]["id"]

        detail = worker.get(f"/tasks/{task_id}")
        assert detail.status_code == 200
        conforms(spec, "TaskDetail", detail.get_json())
        form = detail.get_json()["form_definition"]
        conforms(spec, "FormDefinition", form)
        assert form["schema"]["type"] == "object" and set(step.data) <= set(form["schema"]["properties"])

        assert worker.post(f"/tasks/{task_id}/claim").get_json()["claimed_by"] == name
        assert worker.get("/tasks?scope=mine").get_json()["items"][0]["id"] == task_id
        done = worker.post(f"/tasks/{task_id}/complete", {"data": dict(step.data)})
        assert done.status_code == 200, done.get_json()
        created = done.get_json()
        conforms(spec, "StepResult", created)

    assert created["status"] == "completed" and created["ready_tasks"] == []
    status = channel("frontdesk").get(f"/applications/{app_no}")
    assert status.status_code == 200
    body = status.get_json()
    conforms(spec, "Application", body)
    assert body["status"] == "completed" and body["completed_at"] and body["current_steps"] == []
    assert [s["node_id"] for s in body["finished_steps"]] == [s.node for s in scenario.steps]
    assert body["data"]["archive_no"] == scenario.steps[-1].data["archive_no"]


def test_application_status_shows_current_and_finished_steps_with_dates(
        channel: Callable[[str], Channel], scenarios: dict[str, Scenario], spec: dict[str, Any]) -> None:
    started = start_lv(channel, scenarios)
    first = started["ready_tasks"][0]
    done = channel("frontdesk").post(f"/tasks/{first['id']}/complete",
                                    {"data": dict(scenarios["lv_residential"].steps[0].data)})
    assert done.status_code == 200
    body = channel("survey").get(f"/applications/{started['app_no']}").get_json()
    conforms(spec, "Application", body)
    assert body["status"] == "running" and body["process"] == "lv" and body["customer"]["name"] == "张伟"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?", body["created_at"])
    finished = body["finished_steps"]
    assert [(s["node_id"], s["completed_by"]) for s in finished] == [(first["node_id"], "frontdesk")]
    assert finished[0]["node_name"] == first["node_name"] and finished[0]["completed_at"].startswith("2026-11-23T")
    assert [t["node_id"] for t in body["current_steps"]] == [t["node_id"] for t in done.get_json()["ready_tasks"]]
    assert body["data"]["customer_name"] == "张伟"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("change, field", [({"capacity_kw": -1}, "capacity_kw"), ({"customer_name": None}, "customer_name")])
def test_invalid_start_data_gets_field_errors_and_creates_nothing(
        channel: Callable[[str], Channel], engine: Engine, scenarios: dict[str, Scenario],
        change: dict[str, Any], field: str) -> None:
    data = {**scenarios["lv_residential"].start, **change}
    if change[field] is None:
        del data[field]
    response = channel("frontdesk").post("/applications", {"process": "lv", "data": data})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert field in error["fields"] and re.search(r"[\u4e00-\u9fff]", error["fields"][field])
    assert engine.applications() == []


def test_unknown_process_and_missing_data_are_field_errors(channel: Callable[[str], Channel], engine: Engine) -> None:
    response = channel("frontdesk").post("/applications", {"process": "xx", "dat": {}})
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"dat"}
    response = channel("frontdesk").post("/applications", {"process": "xx"})
    assert set(response.get_json()["error"]["fields"]) == {"process", "data"}
    assert engine.applications() == []


def test_completing_a_task_twice_is_a_conflict_naming_who_did_it(
        channel: Callable[[str], Channel], scenarios: dict[str, Scenario], second_desk: str) -> None:
    task_id = start_lv(channel, scenarios)["ready_tasks"][0]["id"]
    data = {"data": dict(scenarios["lv_residential"].steps[0].data)}
    assert channel("frontdesk").post(f"/tasks/{task_id}/complete", data).status_code == 200
    for user in (second_desk, "frontdesk"):
        again = channel(user).post(f"/tasks/{task_id}/complete", data)
        assert again.status_code == 409
        assert "已由柜台受理员 张敏于" in again.get_json()["error"]["message"]


def test_invalid_task_data_is_400_with_fields(channel: Callable[[str], Channel], scenarios: dict[str, Scenario]) -> None:
    task_id = start_lv(channel, scenarios)["ready_tasks"][0]["id"]
    response = channel("frontdesk").post(f"/tasks/{task_id}/complete", {"data": {"signed": "yes"}})
    assert response.status_code == 400 and "signed" in response.get_json()["error"]["fields"]
    assert channel("frontdesk").get(f"/tasks/{task_id}").get_json()["status"] == "ready"
    missing = channel("frontdesk").post(f"/tasks/{task_id}/complete", {"signed": True})
    assert missing.status_code == 400 and set(missing.get_json()["error"]["fields"]) == {"signed"}


def test_claim_by_another_blocks_and_release_frees(channel: Callable[[str], Channel],
                                                    scenarios: dict[str, Scenario], second_desk: str) -> None:
    task_id = start_lv(channel, scenarios)["ready_tasks"][0]["id"]
    data = {"data": dict(scenarios["lv_residential"].steps[0].data)}
    assert channel("frontdesk").post(f"/tasks/{task_id}/claim").status_code == 200
    other = channel(second_desk)
    assert other.post(f"/tasks/{task_id}/claim").status_code == 409
    assert other.post(f"/tasks/{task_id}/complete", data).status_code == 403
    assert other.post(f"/tasks/{task_id}/release").status_code == 403
    assert other.get("/tasks?scope=pool").get_json()["total"] == 0
    released = channel("frontdesk").post(f"/tasks/{task_id}/release")
    assert released.status_code == 200 and released.get_json()["claimed_by"] is None
    assert [t["id"] for t in other.get("/tasks?scope=pool").get_json()["items"]] == [task_id]


def test_unknown_task_and_application_are_404(channel: Callable[[str], Channel]) -> None:
    user = channel("manager1")
    missing_task = "00000000-0000-0000-0000-000000000000"
    for response in (user.get(f"/tasks/{missing_task}"), user.post(f"/tasks/{missing_task}/claim"),
                     user.post(f"/tasks/{missing_task}/complete", {"data": {}}),
                     user.get("/applications/LV209901010001")):
        assert response.status_code == 404
        assert response.get_json()["error"]["message"]


@pytest.mark.parametrize("payload, content_type, expected", [
    (b'{"process": "lv", ', "application/json", "不是有效的 JSON"),
    (b"", "application/json", "请求体为空"),
    (b'["lv"]', "application/json", "JSON 对象"),
    (b'{"process": "lv", "data": {"capacity_kw": NaN}}', "application/json", "不是有效的 JSON"),
    (b"process=lv", "application/x-www-form-urlencoded", "Content-Type"),
])
def test_bad_request_bodies_are_400_with_a_clear_message(channel: Callable[[str], Channel], engine: Engine,
                                                         payload: bytes, content_type: str, expected: str) -> None:
    response = channel("frontdesk").post("/applications", data=payload, content_type=content_type)
    assert response.status_code == 400
    assert expected in response.get_json()["error"]["message"]
    assert engine.applications() == []


def test_task_list_rejects_bad_paging(channel: Callable[[str], Channel]) -> None:
    response = channel("manager1").get("/tasks?page=zero&per_page=500")
    assert response.status_code == 400 and set(response.get_json()["error"]["fields"]) == {"page", "per_page"}
    assert channel("manager1").get("/tasks?scope=everything").status_code == 400


# ----------------------------------------------------------------------------- the description


def blueprint_operations(app: Flask) -> set[tuple[str, str]]:
    ops = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            ops |= {(method.lower(), path) for method in rule.methods or () if method not in ("HEAD", "OPTIONS")}
    return ops


def test_openapi_document_describes_every_route_and_nothing_else(app: Flask, spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"]}
    assert {"Application", "Task", "TaskPage", "StepResult", "Error"} <= set(spec["components"]["schemas"])
    base = spec["servers"][0]["url"]
    documented = {(method, base + path) for path, item in spec["paths"].items() for method in item}
    assert documented == blueprint_operations(app)
    for (method, path) in documented:
        op = spec["paths"][path.removeprefix(base)][method]
        assert "200" in op["responses"] or "201" in op["responses"]
        public = op.get("security") == []
        assert public or "401" in op["responses"], f"{method} {path} does not document 401"
        for name in re.findall(r"{(\w+)}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"])


def test_openapi_document_and_docs_are_served_without_a_token(app: Flask, spec: dict[str, Any]) -> None:
    page = app.test_client().get(f"{API}/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path in spec["paths"]:
        assert spec["servers"][0]["url"] + path in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the docs page must not load anything off-site"


def test_openapi_document_is_a_valid_openapi_31_document(spec: dict[str, Any]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(json.loads(json.dumps(spec)))


def test_error_bodies_match_the_error_schema(app: Flask, channel: Callable[[str], Channel],
                                             spec: dict[str, Any]) -> None:
    conforms(spec, "Error", Channel(app.test_client(), None).get("/tasks").get_json())
    conforms(spec, "Error", channel("frontdesk").post("/applications", {"process": "lv", "data": {}}).get_json())
