/* The application diagram: bpmn-js NavigatedViewer with completed nodes, waiting nodes and taken flows marked.
   The page passes only a URL (data-diagram-url); the diagram and its trace come from that JSON. */
(function () {
  "use strict";

  function showStatus(container, text, isError) {
    var p = container.querySelector(".diagram-status");
    if (!p) {
      p = document.createElement("p");
      p.className = "diagram-status";
      container.appendChild(p);
    }
    p.textContent = text;
    p.classList.toggle("errors", !!isError);
    p.classList.toggle("muted", !isError);
  }

  function mark(canvas, registry, ids, marker) {
    ids.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, marker);
      }
    });
  }

  /* Wide diagrams leave the box mostly empty: size the box to the diagram's shape (within limits). */
  function fitHeight(container, canvas) {
    var inner = canvas.viewbox().inner;
    if (!inner || !inner.width) {
      return;
    }
    var wanted = container.clientWidth * inner.height / inner.width + 40;
    container.style.height = Math.round(Math.min(640, Math.max(280, wanted))) + "px";
    canvas.resized();
  }

  async function render(container) {
    if (typeof window.BpmnJS !== "function") {
      showStatus(container, "流程图组件未能加载（bpmn-js），请联系管理员。", true);
      return;
    }
    var response = await fetch(container.dataset.diagramUrl, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    });
    if (!response.ok) {
      showStatus(container, "流程图载入失败（HTTP " + response.status + "）。", true);
      return;
    }
    var trace = await response.json();
    var viewer = new window.BpmnJS({ container: container });
    await viewer.importXML(trace.xml);
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var active = new Set(trace.active);
    mark(canvas, registry, trace.completed.filter(function (id) { return !active.has(id); }), "completed");
    mark(canvas, registry, trace.active, "active");
    mark(canvas, registry, trace.flows, "taken");
    fitHeight(container, canvas);
    canvas.zoom("fit-viewport", "auto");
    var status = container.querySelector(".diagram-status");
    if (status) {
      status.remove();
    }
    container.classList.add("diagram-ready");
  }

  document.querySelectorAll("[data-diagram-url]").forEach(function (container) {
    render(container).catch(function (err) {
      showStatus(container, "流程图无法显示：" + (err && err.message ? err.message : err), true);
    });
  });
})();
