"""The contracts the system generates, which process variant each belongs to and its parties' roles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContractKind:
    """One kind of contract and how it is rendered."""

    key: str
    title: str
    variants: frozenset[str]  # process variants that may generate it
    supplier_role: str  # how the contract names the utility
    customer_role: str  # how the contract names the customer
    number_suffix: str  # the contract number is the application number, a dash and this

    @property
    def template(self) -> str:
        """The Jinja template file for this kind."""
        return f"{self.key}.xml.j2"

    @property
    def is_pv(self) -> bool:
        """True for the two grid-connection contracts of distributed PV."""
        return "pv" in self.variants

    @property
    def is_supply(self) -> bool:
        """True for the contracts under which the utility supplies the customer (and bills them)."""
        return self.key in ("hv_supply", "lv_supply", "residential")


CONTRACT_KINDS: dict[str, ContractKind] = {
    kind.key: kind
    for kind in (
        ContractKind("hv_supply", "高压供用电合同", frozenset({"hv"}), "供电人", "用电人", "GY"),
        # Signed with the supply contract by a dual-supply large customer (seed 002, 4.13 and 4.14).
        ContractKind("hv_dispatch", "双电源用户调度协议", frozenset({"hv"}), "调度方", "用电人", "DD"),
        ContractKind("lv_supply", "低压供用电合同", frozenset({"lv"}), "供电人", "用电人", "DY"),
        ContractKind("residential", "居民供用电协议", frozenset({"lv"}), "供电人", "用电人", "JM"),
        ContractKind("pv_purchase", "分布式光伏发电项目购售电合同", frozenset({"pv"}), "购电人", "售电人", "GS"),
        ContractKind("pv_dispatch", "分布式光伏发电项目并网调度协议", frozenset({"pv"}), "调度方", "并网方", "BW"),
    )
}
