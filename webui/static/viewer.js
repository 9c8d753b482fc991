/* The application diagram: bpmn-js NavigatedViewer with completed nodes, waiting nodes and taken flows marked.
   A page with data-diagram-url gets its diagram drawn from that JSON (the diagram and its trace).
   Other scripts (the auditor's step-through) use window.BaozhuangViewer: open a diagram once, then
   re-apply the markers of another moment as often as they like. */
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

  /* Draw a diagram into a container, sized and zoomed to fit; resolves to a handle for mark(). */
  async function open(container, xml) {
    if (typeof window.BpmnJS !== "function") {
      throw new Error("流程图组件未能加载（bpmn-js），请联系管理员。");
    }
    var viewer = new window.BpmnJS({ container: container });
    await viewer.importXML(xml);
    var diagram = { viewer: viewer, canvas: viewer.get("canvas"), registry: viewer.get("elementRegistry"), marked: [] };
    fitHeight(container, diagram.canvas);
    diagram.canvas.zoom("fit-viewport", "auto");
    var status = container.querySelector(".diagram-status");
    if (status) {
      status.remove();
    }
    container.classList.add("diagram-ready");
    return diagram;
  }

  /* Show one moment: the markers of a trace ({completed, active, flows}) replace whatever was marked before. */
  function mark(diagram, trace) {
    diagram.marked.forEach(function (entry) {
      diagram.canvas.removeMarker(entry[0], entry[1]);
    });
    diagram.marked = [];
    var active = new Set(trace.active || []);
    function add(ids, marker) {
      (ids || []).forEach(function (id) {
        if (diagram.registry.get(id)) {
          diagram.canvas.addMarker(id, marker);
          diagram.marked.push([id, marker]);
        }
      });
    }
    add((trace.completed || []).filter(function (id) { return !active.has(id); }), "completed");
    add(trace.active, "active");
    add(trace.flows, "taken");
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
    var diagram = await open(container, trace.xml);
    mark(diagram, trace);
  }

  window.BaozhuangViewer = { open: open, mark: mark, showStatus: showStatus };

  document.querySelectorAll("[data-diagram-url]").forEach(function (container) {
    render(container).catch(function (err) {
      showStatus(container, "流程图无法显示：" + (err && err.message ? err.message : err), true);
    });
  });
})();
