"""A residential low-voltage application, two-step (受理签约 → 施工接电 → 归档), through the browser, and the
居民供用电协议 it generates downloaded from the application page."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import LiveServer, Person
from tests.browser.flow import (
    PATHS,
    accept_through_ui,
    assert_clean,
    open_tasks,
    run_path,
    wait_for_diagram,
)


def test_lv_residential_two_step_with_the_agreement_downloaded(person: Person, live_server: LiveServer) -> None:
    path = PATHS["lv_residential"]
    page = person.page
    assert [node for node, _ in path["steps"]] == ["lv_sign_simple", "lv_construct_connect", "lv_archive"]

    person.login("frontdesk")
    app_no = accept_through_ui(person, "lv", path["start"])
    assert_clean(person, "acceptance")
    # the agreement is generated at acceptance, before the customer signs it
    assert set(open_tasks(live_server, app_no)) == {"lv_sign_simple"}
    assert page.locator("table.app-docs tr", has_text="居民供用电协议").count() == 1

    run_path(person, live_server, app_no, path["steps"])

    assert open_tasks(live_server, app_no) == {}
    person.go(f"/applications/{app_no}")
    assert page.locator(".badge.status-completed").inner_text() == "已办结"
    text = page.locator("main").inner_text()
    for value in ("3300007654321", "DY-2025-004567"):
        assert value in text, value
    wait_for_diagram(person)
    assert page.locator("#diagram .djs-element.active").count() == 0

    row = page.locator("table.app-docs tr", has_text="居民供用电协议")
    assert row.count() == 1
    assert "合同" in row.locator("td").first.inner_text()
    docx_link = row.get_by_role("link", name="下载 DOCX")
    pdf_link = row.get_by_role("link", name="下载 PDF")
    assert docx_link.count() == 1 and pdf_link.count() == 1
    person.shot("lv-01-application-completed-documents")

    with page.expect_download() as info:
        docx_link.click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(".docx"), download.suggested_filename
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"PK"), content[:16]
    assert b"word/document.xml" in content

    with page.expect_download() as info:
        pdf_link.click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    assert_clean(person, "application page with the downloads")
