"""Logging in through a real browser against the real server."""

from __future__ import annotations

from tests.browser.conftest import Person


def test_login_shows_my_task_list_and_logout_returns_to_login(person: Person) -> None:
    person.login("frontdesk")
    assert person.page.locator("text=柜台受理员 张敏").count() >= 1
    person.shot("task-list-frontdesk")
    person.page.click("text=退出")
    person.page.wait_for_url("**/login*")
    assert person.console_errors == []


def test_wrong_password_stays_on_login_with_a_message(person: Person) -> None:
    person.go("/login")
    person.page.fill("input[name=username]", "frontdesk")
    person.page.fill("input[name=password]", "wrong")
    person.page.click("button[type=submit]")
    assert person.page.locator("text=用户名或密码错误").is_visible()
