"""Web processes on different hosts share the key that signs sessions and form tokens (kept in the database
when none is configured): a person logged in through one host is logged in on the next."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from engine import Engine
from webui import create_app

from tests.conftest import Clock, Staff, make_engine
from tests.databases import fast_hasher


def host(engine: Engine, tmp_path: Path, name: str, clock: Clock) -> tuple[Engine, Flask]:
    """A web process with its own instance folder (no shared disk) on the engine's database, no key given."""
    other = Engine({"database_url": engine.config.database_url, "instance_dir": tmp_path / name,
                    "documents_dir": tmp_path / name / "documents"}, clock=clock,
                   password_hasher=fast_hasher())  # type: ignore[arg-type]
    return other, create_app({"TESTING": True}, engine=other)


def test_a_session_and_a_form_token_from_one_host_are_good_on_another(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine(tmp_path, clock)
    (a_engine, a), (b_engine, b) = host(engine, tmp_path, "host-a", clock), host(engine, tmp_path, "host-b", clock)
    try:
        assert a.config["SECRET_KEY"] == b.config["SECRET_KEY"] and len(a.config["SECRET_KEY"]) >= 32
        on_a = Staff(a.test_client()).login("manager1")
        session = on_a.client.get_cookie("session")
        assert session is not None
        on_b = Staff(b.test_client())
        on_b.client.set_cookie("session", session.value)
        page = on_b.get("/")
        assert page.status_code == 200 and "客户经理 李强" in page.get_data(as_text=True)
        token = on_a.csrf_token()  # a form served by host A, submitted to host B with the browser's cookie
        cookie = on_a.client.get_cookie("session")
        assert cookie is not None
        on_b.client.set_cookie("session", cookie.value)
        assert on_b.post("/logout", {"csrf_token": token}).status_code == 302
        assert on_b.get("/").status_code == 302
        assert not (tmp_path / "host-a" / "secret_key").exists() and not (tmp_path / "host-b" / "secret_key").exists()
    finally:
        a_engine.dispose()
        b_engine.dispose()
        engine.dispose()


def test_a_key_kept_in_the_instance_folder_by_an_earlier_version_is_adopted(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine(tmp_path, clock)
    (tmp_path / "host-a").mkdir()
    (tmp_path / "host-a" / "secret_key").write_text("an-earlier-key-" + "0" * 40, encoding="utf-8")
    (a_engine, a), (b_engine, b) = host(engine, tmp_path, "host-a", clock), host(engine, tmp_path, "host-b", clock)
    try:
        assert a.config["SECRET_KEY"] == b.config["SECRET_KEY"] == "an-earlier-key-" + "0" * 40
    finally:
        a_engine.dispose()
        b_engine.dispose()
        engine.dispose()


def test_a_configured_key_wins(tmp_path: Path, clock: Clock) -> None:
    engine = make_engine(tmp_path, clock)
    try:
        app = create_app({"TESTING": True, "SECRET_KEY": "configured"}, engine=engine)
        assert app.config["SECRET_KEY"] == "configured"
        assert create_app({"TESTING": True}, engine=engine).config["SECRET_KEY"] != "configured"
    finally:
        engine.dispose()
