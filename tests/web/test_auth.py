"""Logging in and out, sessions, CSRF and error pages."""

from __future__ import annotations

from typing import Callable

from flask import Flask

from tests.conftest import Staff


def test_anonymous_visitors_are_sent_to_login(client: Staff) -> None:
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_with_the_right_password_and_logout(client: Staff) -> None:
    client.login("manager1")
    page = client.get("/").get_data(as_text=True)
    assert "客户经理 李强" in page and "待认领" in page
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client: Staff) -> None:
    response = client.post("/login", {"username": "manager1", "password": "nope"})
    assert response.status_code == 401 and "用户名或密码错误" in response.get_data(as_text=True)


def test_posting_without_csrf_token_is_rejected(client: Staff) -> None:
    response = client.post("/login", {"username": "manager1", "password": "baozhuang"}, csrf=False)
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)


def test_session_cookie_flags(client: Staff) -> None:
    response = client.client.post("/login", data={"username": "manager1", "password": "baozhuang",
                                                  "csrf_token": client.csrf_token()})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_never_redirects_off_site(client: Staff) -> None:
    response = client.client.post("/login?next=//evil.example/x", data={
        "username": "manager1", "password": "baozhuang", "csrf_token": client.csrf_token()})
    assert response.headers["Location"] == "/"


def test_unknown_page_and_internal_error_pages_show_no_traceback(app: Flask, staff: Callable[[str], Staff]) -> None:
    @app.route("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    user = staff("manager1")
    missing = user.get("/no/such/page")
    assert missing.status_code == 404 and "不存在" in missing.get_data(as_text=True)
    broken = user.get("/boom")
    text = broken.get_data(as_text=True)
    assert broken.status_code == 500 and "Traceback" not in text and "secret internals" not in text


def test_debugger_is_off(app: Flask) -> None:
    assert not app.debug
