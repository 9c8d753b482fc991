/* The auditor's step-through (audit/replay.html): load every step of the replay once, draw the diagram once,
   then show any step — its markers, its data and what changed — without reloading. The URL keeps the step
   (?step=K, and &mode=rerun for today's rules) so that a link opens the same view.
   Everything the server sends is put in the page with textContent: nothing is parsed as HTML. */
(function () {
  "use strict";

  var root = document.getElementById("replay");
  if (!root || !window.BaozhuangViewer) {
    return;
  }
  var Viewer = window.BaozhuangViewer;
  var container = document.getElementById("replay-diagram");
  var list = document.getElementById("replay-steps");
  var prev = document.getElementById("step-prev");
  var next = document.getElementById("step-next");
  var toggle = document.getElementById("rerun-toggle");
  var state = { mode: root.dataset.mode === "rerun" ? "rerun" : "recorded", steps: [], current: 0, diagram: null,
                loading: null, xmls: {}, shownVersion: "" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function stepHref(number) {
    return "?step=" + number + (state.mode === "rerun" ? "&mode=rerun" : "");
  }

  /* The timeline, rebuilt from the steps of the mode shown (a rerun may stop early or differ). */
  function buildList() {
    list.textContent = "";
    state.steps.forEach(function (step) {
      var li = el("li", step.matches ? "" : "diverges");
      var a = el("a");
      a.href = stepHref(step.number);
      a.dataset.step = String(step.number);
      a.appendChild(el("span", "step-no", String(step.number)));
      var main = el("span", "step-main");
      main.appendChild(el("span", "step-title", step.title));
      main.appendChild(el("span", "step-meta", step.actor_name + " · " + step.at_text));
      if (!step.matches) {
        main.appendChild(el("span", "badge diverges", state.mode === "rerun" ? "今日规则结果不同" : "与记录不符"));
      }
      a.appendChild(main);
      li.appendChild(a);
      list.appendChild(li);
    });
    root.querySelector(".step-count").textContent = String(state.steps.length);
  }

  function dataTable(step) {
    var box = document.getElementById("step-data");
    box.textContent = "";
    if (!step.sections.length) {
      box.appendChild(el("p", "muted", "本步时尚无资料。"));
    }
    step.sections.forEach(function (section) {
      box.appendChild(el("h4", "data-section-title", section.title));
      var table = el("table", "grid kv step-kv");
      var body = el("tbody");
      section.rows.forEach(function (row) {
        var tr = el("tr", row.change ? "change-" + row.change : "");
        tr.appendChild(el("th", "", row.label));
        var td = el("td");
        td.appendChild(el("span", "value", row.value));
        if (row.change === "changed") {
          td.appendChild(el("del", "before", row.before));
        } else if (row.change === "added") {
          td.appendChild(el("span", "badge change-badge", "新增"));
        }
        tr.appendChild(td);
        body.appendChild(tr);
      });
      table.appendChild(body);
      box.appendChild(table);
    });
    if (step.removed.length) {
      box.appendChild(el("h4", "data-section-title", "本步删除的资料"));
      var removed = el("table", "grid kv step-kv");
      var rbody = el("tbody");
      step.removed.forEach(function (row) {
        var tr = el("tr", "change-removed");
        tr.appendChild(el("th", "", row.label));
        var td = el("td");
        td.appendChild(el("del", "before", row.before));
        tr.appendChild(td);
        rbody.appendChild(tr);
      });
      removed.appendChild(rbody);
      box.appendChild(removed);
    }
  }

  /* Scroll the timeline (not the page: the diagram stays where it is) to show the current step. */
  function keepInView(item) {
    if (!item) {
      return;
    }
    var top = item.offsetTop - list.offsetTop;
    if (top < list.scrollTop) {
      list.scrollTop = top;
    } else if (top + item.offsetHeight > list.scrollTop + list.clientHeight) {
      list.scrollTop = top + item.offsetHeight - list.clientHeight;
    }
  }

  function show(index) {
    if (!state.steps.length) {
      return;
    }
    index = Math.max(0, Math.min(state.steps.length - 1, index));
    state.current = index;
    var step = state.steps[index];
    var total = state.steps.length;

    list.querySelectorAll("li").forEach(function (li, i) {
      var a = li.querySelector("a");
      li.classList.toggle("current", i === index);
      if (i === index) {
        a.setAttribute("aria-current", "step");
      } else {
        a.removeAttribute("aria-current");
      }
    });
    keepInView(list.children[index]);
    document.getElementById("step-heading").textContent =
      "第 " + step.number + " 步 / 共 " + total + " 步：" + step.title;
    document.getElementById("step-facts").textContent =
      step.kind_label + " · " + step.actor_name + " · " + step.at_text;
    var difference = document.getElementById("step-difference");
    difference.hidden = step.matches;
    difference.textContent = step.matches ? "" :
      (state.mode === "rerun" ? "按今日规则，本步结果将不同：" : "本步重放与记录不符：") + (step.difference || "");
    var changes = document.getElementById("step-changes");
    changes.className = "step-changes";
    if (step.changed === null) {
      changes.textContent = "受理时录入的资料";
      changes.classList.add("muted");
    } else if (step.changed) {
      changes.textContent = "本步变更 " + step.changed + " 项（高亮显示）";
      changes.classList.add("has-changes");
    } else {
      changes.textContent = "本步未改变资料";
      changes.classList.add("muted");
    }
    dataTable(step);

    prev.href = stepHref(Math.max(1, step.number - 1));
    next.href = stepHref(Math.min(total, step.number + 1));
    prev.setAttribute("aria-disabled", index === 0 ? "true" : "false");
    next.setAttribute("aria-disabled", index === total - 1 ? "true" : "false");
    drawOn(step).catch(function (err) { fail(err); });
    history.replaceState(null, "", stepHref(step.number));
    root.dataset.shownStep = String(step.number);
    root.dataset.shownMode = state.mode;
  }

  /* A migrated application ran its first steps on an older version: each step is drawn on the diagram of the
     version it was on (the server sends one XML per version), switching only when the version changes. */
  async function drawOn(step) {
    if (!state.diagram) {
      return;
    }
    var version = step.version !== null && step.version !== undefined ? String(step.version) : state.shownVersion;
    if (version && version !== state.shownVersion && state.xmls[version]) {
      await state.diagram.viewer.importXML(state.xmls[version]);
      state.diagram.marked = [];
      state.diagram.canvas.zoom("fit-viewport", "auto");
      state.shownVersion = version;
      container.dataset.version = version;
    }
    var caption = document.getElementById("step-version");
    if (caption) {
      caption.textContent = state.shownVersion ? "第 " + state.shownVersion + " 版流程图" : "";
    }
    Viewer.mark(state.diagram, step);
  }

  function setVerdict(report) {
    var verdict = document.getElementById("rerun-verdict");
    if (state.mode !== "rerun") {
      verdict.hidden = true;
      return;
    }
    verdict.hidden = false;
    verdict.className = "audit rerun-verdict " + (report.verified ? "audit-ok" : "audit-broken");
    verdict.textContent = report.verified
      ? "✔ 按今日规则重放：每一步的结果都与当时相同"
      : "✘ 按今日规则重放：" + report.verdict;
  }

  async function load(mode) {
    var url = root.dataset.replayUrl + (mode === "rerun" ? "?mode=rerun" : "");
    var response = await fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } });
    if (!response.ok) {
      throw new Error("重放数据载入失败（HTTP " + response.status + "）");
    }
    return response.json();
  }

  async function switchTo(mode, wanted) {
    root.classList.add("loading");
    toggle.disabled = true;
    try {
      var report = await load(mode);
      state.mode = mode;
      state.steps = report.steps;
      state.xmls = report.xmls || {};
      if (!state.diagram) {
        var first = report.steps.length && report.steps[0].version !== null ? String(report.steps[0].version) : "";
        state.diagram = await Viewer.open(container, (first && state.xmls[first]) || report.xml);
        state.shownVersion = first && state.xmls[first] ? first : String(report.version || "");
        container.dataset.version = state.shownVersion;
      }
      buildList();
      setVerdict(report);
      show(wanted);
      root.classList.add("replay-ready");
    } finally {
      root.classList.remove("loading");
      toggle.disabled = false;
    }
  }

  function fail(err) {
    Viewer.showStatus(container, "重放无法显示：" + (err && err.message ? err.message : err), true);
    toggle.checked = state.mode === "rerun";
  }

  list.addEventListener("click", function (event) {
    var a = event.target.closest("a[data-step]");
    if (!a || !state.steps.length) {
      return;
    }
    event.preventDefault();
    show(Number(a.dataset.step) - 1);
  });
  [[prev, -1], [next, 1]].forEach(function (pair) {
    pair[0].addEventListener("click", function (event) {
      if (!state.steps.length) {
        return;
      }
      event.preventDefault();
      show(state.current + pair[1]);
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey || !state.steps.length) {
      return;
    }
    var target = event.target;
    var typing = target && target.closest && (target.closest("select, textarea, [contenteditable]") ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
    if (typing) {
      return;
    }
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      show(state.current - 1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      show(state.current + 1);
    }
  });
  toggle.addEventListener("change", function () {
    switchTo(toggle.checked ? "rerun" : "recorded", state.current).catch(fail);
  });

  switchTo(state.mode, (Number(root.dataset.step) || 1) - 1).catch(fail);
})();
