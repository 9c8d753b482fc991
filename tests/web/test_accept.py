"""受理: choosing the business and customer type, the one-time checklist, 一证受理, and accepting."""

from __future__ import annotations

import re
from typing import Callable

from engine import Engine
from cli.demo import Scenario

from tests.conftest import Staff
from tests.web.test_tasks import as_form, field_error, flashes

Actor = Callable[[str], Staff]


def checklist(page: str) -> set[str]:
    """The documents offered in the one-time checklist."""
    return set(re.findall(r'name="documents_received" value="([^"]+)"', page))


def test_only_the_front_desk_accepts(staff: Actor, scenarios: dict[str, Scenario], engine: Engine) -> None:
    manager = staff("manager1")
    assert manager.get("/accept").status_code == 403
    assert manager.get("/accept?variant=lv&customer_type=residential").status_code == 403
    assert manager.post("/accept?variant=lv", as_form(scenarios["lv_residential"].start)).status_code == 403
    assert engine.applications() == []


def test_first_step_offers_each_business_with_its_customer_types(staff: Actor) -> None:
    page = staff("frontdesk").get("/accept").get_data(as_text=True)
    for variant in ("hv", "lv", "pv"):
        assert f'name="variant" value="{variant}"' in page
    assert "机关事业单位" in page and "小微企业（三零服务）" in page and "自然人" in page
    assert 'href="/accept"' in page  # the main menu leads here


def test_the_checklist_depends_on_the_customer_type(staff: Actor) -> None:
    clerk = staff("frontdesk")
    residential = clerk.get("/accept?variant=lv&customer_type=residential").get_data(as_text=True)
    business = clerk.get("/accept?variant=lv&customer_type=non_residential").get_data(as_text=True)
    assert checklist(residential) == {"resident_id", "property_proof"}
    assert checklist(business) == {"legal_representative_id", "business_licence", "property_proof"}
    assert "一证受理" in residential and "任一身份证明即可受理：居民身份证（居民客户）。" in residential
    assert "一次性告知" in business
    assert '<input type="hidden" name="customer_type" value="residential">' in residential


def test_the_acceptance_form_is_built_from_the_start_form(staff: Actor) -> None:
    page = staff("frontdesk").get("/accept?variant=hv&customer_type=enterprise").get_data(as_text=True)
    assert '<label for="f-customer_name" class="field-label required">客户名称</label>' in page
    assert re.search(r'<select id="f-voltage_kv" name="voltage_kv">.*?<option value="35">35kV</option>', page, re.S)
    assert 'name="capacity_kva" type="number" step="any"' in page
    assert 'name="first_contact_at" type="datetime-local" value="2026-11-23T09:00"' in page  # preset: now
    assert "客户经理 李强" in page and "客户经理 王芳" in page  # the preferred manager is chosen by name
    assert page.index("客户名称") < page.index("联系电话") < page.index("申请容量（kVA）")  # the author's order


def test_without_an_identity_document_the_order_cannot_be_opened(staff: Actor, scenarios: dict[str, Scenario],
                                                                 engine: Engine) -> None:
    data = as_form({**scenarios["lv_residential"].start, "documents_received": ["property_proof"]})
    response = staff("frontdesk").post("/accept?variant=lv", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "一证受理" in field_error(page, "documents_received")
    assert 'value="张伟"' in page and checklist(page) == {"resident_id", "property_proof"}
    assert engine.applications() == []


def test_a_valid_acceptance_opens_the_application(staff: Actor, scenarios: dict[str, Scenario],
                                                  engine: Engine) -> None:
    clerk = staff("frontdesk")
    response = clerk.post("/accept?variant=lv", as_form(scenarios["lv_non_residential"].start))
    [app] = engine.applications()
    assert response.status_code == 302 and response.headers["Location"] == f"/applications/{app.app_no}"
    assert f"已受理，申请编号 {app.app_no}" in flashes(clerk)
    data = engine.application(app.app_no).data
    assert data["customer_name"] == "姑苏区老字号食品有限公司" and data["capacity_kw"] == 200
    assert data["preferred_manager"] == "manager2" and data["documents_received"] == [
        "legal_representative_id", "business_licence", "property_proof"]


def test_empty_optional_fields_are_stored_as_null(staff: Actor, scenarios: dict[str, Scenario],
                                                  engine: Engine) -> None:
    response = staff("frontdesk").post("/accept?variant=lv", as_form(scenarios["lv_residential"].start))
    assert response.status_code == 302
    [app] = engine.applications()
    data = engine.application(app.app_no).data
    assert data["legal_representative"] is None and data["preferred_manager"] is None


def test_errors_are_shown_next_to_each_field(staff: Actor, scenarios: dict[str, Scenario], engine: Engine) -> None:
    data = as_form({**scenarios["lv_residential"].start, "contact_phone": "12345", "capacity_kw": "八千"})
    response = staff("frontdesk").post("/accept?variant=lv", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_error(page, "contact_phone") == "联系电话：格式不正确"
    assert "请输入数字" in field_error(page, "capacity_kw")
    assert engine.applications() == []


def test_missing_or_unknown_business_or_customer_type(staff: Actor, scenarios: dict[str, Scenario]) -> None:
    clerk = staff("frontdesk")
    unknown = clerk.get("/accept?variant=xx&customer_type=residential")
    assert unknown.status_code == 404 and "没有这种业务类型" in unknown.get_data(as_text=True)
    missing = clerk.post("/accept", as_form(scenarios["lv_residential"].start))
    assert missing.status_code == 400 and "请先选择业务类型" in missing.get_data(as_text=True)
    wrong_type = clerk.get("/accept?variant=lv&customer_type=enterprise")
    assert wrong_type.status_code == 400 and "请选择客户类别" in wrong_type.get_data(as_text=True)
    no_type = clerk.get("/accept?variant=hv")  # back to the first step, that business highlighted
    assert no_type.status_code == 200 and 'class="card variant chosen"' in no_type.get_data(as_text=True)
