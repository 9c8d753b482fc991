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

    @property
    def template(self) -> str:
        """The Jinja template file for this kind."""
        return f"{self.key}.xml.j2"

    @property
    def is_pv(self) -> bool:
        """True for the two grid-connection contracts of distributed PV."""
        return "pv" in self.variants


CONTRACT_KINDS: dict[str, ContractKind] = {
    kind.key: kind
    for kind in (
        ContractKind("hv_supply", "高压供用电合同", frozenset({"hv"}), "供电人", "用电人"),
        ContractKind("lv_supply", "低压供用电合同", frozenset({"lv"}), "供电人", "用电人"),
        ContractKind("residential", "居民供用电协议", frozenset({"lv"}), "供电人", "用电人"),
        ContractKind("pv_purchase", "购售电合同", frozenset({"pv"}), "购电人", "售电人"),
        ContractKind("pv_dispatch", "并网调度协议", frozenset({"pv"}), "调度方", "并网方"),
    )
}
