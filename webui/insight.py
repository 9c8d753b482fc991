"""The process seen on its diagram, and the auditors' checks over many applications:

* ``/supervision/diagram`` — durations (median, 90th percentile) and on-time shares per node drawn on the
  newest diagram of a variant, coloured from quick to slow, with how often each node was passed; or, toggled,
  how often each sequence flow was taken (its share at every split), lines as wide as the traffic;
* ``/audit/conformance`` — every history of a period checked against its diagram (and as CSV for Excel);
* ``/audit/chains`` — every hash chain verified, with progress.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for
from lxml import etree

from engine import DEVIATIONS, BaozhuangError, Engine, InvalidInput, Period, conformance_csv

from webui import engine_of
from webui.applications import BPMN_NS, VARIANTS
from webui.auth import current_user, roles_required
from webui.supervision import SUPERVISION_ROLES, read_filters

bp = Blueprint("insight", __name__)

AUDIT_ROLES = ("auditor", "marketing")
HEAT_LEVELS = 5
PROGRESS_EVERY = 200
UNNAMED = {"endEvent": "结束", "exclusiveGateway": "（汇合点）", "parallelGateway": "（并行汇合点）",
           "inclusiveGateway": "（汇合点）"}
"""What a split's unnamed target is called in the splits table."""


# ----------------------------------------------------------------------------- the diagram heatmap


def _newest_xml(engine: Engine, process_key: str) -> str:
    newest = engine.latest_version(process_key)
    if newest is None:
        raise InvalidInput(f"{VARIANTS.get(process_key, process_key)}流程尚未部署")
    return engine.version_xml(process_key, newest.version)


def _parse(xml: str) -> Any:
    return etree.fromstring(xml.encode("utf-8"),
                            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


def _label(element: Any) -> str:
    return " ".join((element.get("name") or "").split())


def flow_figures(xml: str, counts: dict[str, int]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """How often each sequence flow of a diagram was taken: per flow its count, its weight (share of the busiest
    flow, for the line width), at a split (a node with several outgoing flows) its share of the node's
    outgoing traffic — of the times a parallel split was passed, which every branch takes — and the label
    drawn on it ("128 · 63%"); and the splits as rows for people (node names, never flow ids)."""
    root = _parse(xml)
    names: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        if element.get("id"):
            names[element.get("id", "")] = _label(element)
            kinds[element.get("id", "")] = etree.QName(element).localname
    outgoing: dict[str, list[Any]] = {}
    for flow in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
    most = max(counts.values(), default=0)
    flows: dict[str, dict[str, Any]] = {}
    splits: list[dict[str, Any]] = []
    for source, leaving in outgoing.items():
        taken = [counts.get(f.get("id", ""), 0) for f in leaving]
        split = len(leaving) > 1
        passed = max(taken) if kinds.get(source) == "parallelGateway" else sum(taken)
        branches = []
        for flow, count in zip(leaving, taken):
            share = round(count / passed, 3) if split and passed else None
            label = f"{count} · {share * 100:.0f}%" if share is not None else str(count)
            flows[flow.get("id", "")] = {"count": count, "share": share, "label": label,
                                         "weight": round(count / most, 3) if most else 0.0}
            target = flow.get("targetRef", "")
            branches.append({"to": names.get(target) or UNNAMED.get(kinds.get(target, ""), "（未命名环节）"),
                             "condition": _label(flow), "count": count, "share": share})
        if split:
            splits.append({"at": names.get(source) or "（未命名分支）", "passed": passed,
                           "parallel": kinds.get(source) == "parallelGateway", "branches": branches})
    splits.sort(key=lambda s: -s["passed"])
    return flows, splits


def heat_figures(engine: Engine, period: Period, process_key: str) -> dict[str, Any]:
    """Per node of a variant, over a period: completions, median and 90th percentile, on-time share, and a
    heat level (1 quick … 5 slow) from the node's median among the variant's nodes."""
    figures = engine.supervision.kept_dashboard(period, process_key)
    on_time = {n.node_id: n for n in figures.on_time}
    durations = sorted(figures.durations, key=lambda d: d.median)
    most = max((d.count for d in durations), default=0)
    nodes = {}
    first_rank: dict[float, int] = {}
    for rank, d in enumerate(durations):
        first_rank.setdefault(d.median, rank)  # equal medians, equal colour
    for d in durations:
        rank = first_rank[d.median]
        limited = on_time.get(d.node_id)
        nodes[d.node_id] = {
            "name": d.node_name, "count": d.count, "median": round(d.median, 2), "p90": round(d.p90, 2),
            "on_time": None if limited is None or limited.rate is None else round(limited.rate, 3),
            "with_limit": limited.with_limit if limited else 0,
            "level": 1 + rank * HEAT_LEVELS // max(1, len(durations)),
            "share": round(d.count / most, 3) if most else 0.0,
        }
    xml = _newest_xml(engine, process_key)
    flows, splits = flow_figures(xml, {f.flow_id: f.count for f in figures.flows if f.process_key == process_key})
    return {"variant": process_key, "variant_name": VARIANTS.get(process_key, process_key),
            "from": period.first.isoformat(), "to": period.last.isoformat(), "unit": figures.duration_unit,
            "nodes": nodes, "flows": flows, "splits": splits, "xml": xml}


@bp.route("/supervision/diagram")
@roles_required(*SUPERVISION_ROLES)
def heatmap() -> Any:
    """The durations and on-time shares of a variant's nodes on its diagram."""
    engine = engine_of(current_app)
    filters = read_filters(engine.now().date())
    variant = filters.process_key or "hv"
    figures = heat_figures(engine, filters.period, variant)
    args = {**filters.args(), "variant": variant}
    rows = sorted(figures["nodes"].values(), key=lambda n: -n["median"])
    view = "flows" if request.args.get("view") == "flows" else "heat"
    return render_template("insight/heatmap.html", filters=filters, variant=variant, VARIANTS=VARIANTS,
                           figures=figures, rows=rows, view=view,
                           data_url=url_for("insight.heatmap_json") + "?" + urlencode(args))


@bp.route("/supervision/diagram.json")
@roles_required(*SUPERVISION_ROLES)
def heatmap_json() -> Any:
    """The heatmap's figures and the diagram XML, for the script that draws them."""
    engine = engine_of(current_app)
    filters = read_filters(engine.now().date())
    return jsonify(heat_figures(engine, filters.period, filters.process_key or "hv"))


# ----------------------------------------------------------------------------- conformance


def _period_args(today: date) -> tuple[date, date, str | None, float]:
    filters = read_filters(today)
    return filters.period.first, filters.period.last, filters.process_key or None, filters.late_limit_days


def _node_names(engine: Engine) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    for version in engine.versions():
        root = _parse(engine.version_xml(version.process_key, version.version))
        for e in root.iter(f"{{{BPMN_NS}}}*"):
            if e.get("id") and e.get("name"):
                names.setdefault((version.process_key, e.get("id", "")), " ".join(e.get("name", "").split()))
    return names


@bp.route("/audit/conformance")
@roles_required(*AUDIT_ROLES)
def conformance() -> Any:
    """The conformance report of a period: shares per variant and office, and every deviating history."""
    engine = engine_of(current_app)
    first, last, variant, late_days = _period_args(engine.now().date())
    report = engine.conformance(first, last, variant, timedelta(days=late_days), by=current_user().username)
    names = _node_names(engine)
    filters = read_filters(engine.now().date())
    return render_template("insight/conformance.html", report=report, filters=filters, VARIANTS=VARIANTS,
                           DEVIATIONS=DEVIATIONS, names=names,
                           csv_url=url_for("insight.conformance_csv_download") + "?" + urlencode(filters.args()))


@bp.route("/audit/conformance.csv")
@roles_required(*AUDIT_ROLES)
def conformance_csv_download() -> Any:
    """The conformance report as CSV for Excel on Chinese Windows."""
    engine = engine_of(current_app)
    first, last, variant, late_days = _period_args(engine.now().date())
    report = engine.conformance(first, last, variant, timedelta(days=late_days), by=current_user().username)
    names = _node_names(engine)
    body = "".join(conformance_csv(report, VARIANTS, lambda key, node: names.get((key, node), node)))
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="conformance-{first}-{last}.csv"'
    return response


# ----------------------------------------------------------------------------- every chain


@bp.route("/audit/chains")
@roles_required(*AUDIT_ROLES)
def chains() -> Any:
    """Verify every application's hash chain, with progress (the work runs when asked)."""
    return render_template("insight/chains.html")


@bp.route("/audit/chains/run", methods=["POST"])
@roles_required(*AUDIT_ROLES)
def chains_run() -> Any:
    """Walk every hash chain, streaming NDJSON progress lines, then the broken chains and the totals."""
    engine = engine_of(current_app)
    by = current_user().username
    log = current_app.logger
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def progress(done: int, total: int) -> None:
        if done % PROGRESS_EVERY == 0 or done == total:
            lines.put({"done": done, "total": total})

    def work() -> None:
        try:
            checked, broken = 0, []
            for verdict in engine.verify_all(progress=progress, by=by):
                checked += 1
                if not verdict.intact:
                    broken.append({"app_no": verdict.app_no, "seq": verdict.first_bad_seq, "problem": verdict.problem})
            lines.put({"result": {"checked": checked, "broken": broken}})
        except BaozhuangError as exc:
            lines.put({"error": exc.message})
        except Exception:  # the response has started: the page gets a last line, the log the cause
            log.exception("verifying every chain failed")
            lines.put({"error": "核验中断，系统已记录，请联系管理员"})
        finally:
            lines.put(None)

    def stream() -> Iterator[str]:
        yield json.dumps({"done": 0, "total": 0}) + "\n"
        worker = threading.Thread(target=work, name="baozhuang-verify", daemon=True)
        worker.start()
        while (line := lines.get()) is not None:
            yield json.dumps(line, ensure_ascii=False) + "\n"
        worker.join()

    response = Response(stream(), mimetype="application/x-ndjson")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
