/* The diagram heatmap and path frequencies (insight/heatmap.html) and the run over every hash chain (insight/chains.html).
   Everything the server sends is put in the page with textContent: nothing is parsed as HTML. */
(function () {
  "use strict";

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

  /* ------------------------------------------------------------------ heatmap on the diagram */

  /* The line width of a flow in the frequency view: 1.5 px untaken … 8 px for the busiest flow. */
  function flowWidth(flow) {
    return flow.count ? 2 + 6 * flow.weight : 1.5;
  }

  /* Where a label sits on a flow: the middle of its middle segment, relative to the top left corner of the
     flow's bounding box (where diagram-js anchors a connection's overlays; a connection has no x, y). */
  function middleOf(connection) {
    var points = connection.waypoints || [];
    if (points.length < 2) {
      return { left: 0, top: 0 };
    }
    var left = Math.min.apply(null, points.map(function (p) { return p.x; }));
    var top = Math.min.apply(null, points.map(function (p) { return p.y; }));
    var i = Math.floor((points.length - 1) / 2);
    var a = points[i], b = points[i + 1];
    return { left: (a.x + b.x) / 2 - left, top: (a.y + b.y) / 2 - top };
  }

  async function heatmap(container) {
    var Viewer = window.BaozhuangViewer;
    var response = await fetch(container.dataset.figuresUrl, { credentials: "same-origin",
                                                                headers: { "Accept": "application/json" } });
    if (!response.ok) {
      throw new Error("统计数据载入失败（HTTP " + response.status + "）");
    }
    var figures = await response.json();
    var diagram = await Viewer.open(container, figures.xml);
    var overlays = diagram.viewer.get("overlays");
    var shown = 0;
    var heatWidths = {};  // heat view: a node's incoming flows as wide as the node is busy (as before)
    Object.keys(figures.nodes).forEach(function (nodeId) {
      var node = figures.nodes[nodeId];
      var element = diagram.registry.get(nodeId);
      if (!element) {
        return;
      }
      diagram.canvas.addMarker(nodeId, "heat-" + node.level);
      var badge = el("div", "heat-badge heat-" + node.level);
      badge.appendChild(el("span", "heat-median", node.median.toFixed(1) + " / " + node.p90.toFixed(1) + " " +
                           figures.unit));
      badge.appendChild(el("span", "heat-ontime", node.on_time === null ? "无时限" :
                           "按时 " + (node.on_time * 100).toFixed(0) + "%"));
      badge.appendChild(el("span", "heat-count", node.count + " 次"));
      badge.title = node.name + "：中位数 " + node.median + "，90% 分位 " + node.p90 + " " + figures.unit;
      overlays.add(nodeId, "heat", { position: { bottom: -4, left: -10 }, html: badge });
      (element.incoming || []).forEach(function (flow) {
        heatWidths[flow.id] = 1.5 + 5 * node.share;
      });
      shown += 1;
    });

    // frequency view: every flow labelled with how often it was taken (and its share at a split)
    var labelled = 0;
    var flows = figures.flows || {};
    Object.keys(flows).forEach(function (flowId) {
      var flow = flows[flowId];
      var connection = diagram.registry.get(flowId);
      if (!connection || !connection.waypoints) {
        return;
      }
      diagram.canvas.addMarker(flowId, flow.count ? "flow-taken" : "flow-untaken");
      var label = el("div", "flow-label" + (flow.count ? "" : " untaken"), flow.label);
      label.dataset.count = String(flow.count);
      label.title = "经过 " + flow.count + " 次" +
        (flow.share === null ? "" : "，占该分支点的 " + (flow.share * 100).toFixed(0) + "%");
      overlays.add(flowId, "flow", { position: middleOf(connection), html: label });
      labelled += 1;
    });

    function widthOf(view, id) {
      if (view === "flows") {
        return flows[id] ? flowWidth(flows[id]) : null;
      }
      return heatWidths[id] === undefined ? null : heatWidths[id];
    }

    function show(view) {
      container.dataset.view = view;
      container.classList.toggle("view-heat", view !== "flows");
      container.classList.toggle("view-flows", view === "flows");
      diagram.registry.filter(function (e) { return !!e.waypoints; }).forEach(function (connection) {
        var gfx = diagram.canvas.getGraphics(connection);
        var path = gfx && gfx.querySelector(".djs-visual > path");
        var width = widthOf(view, connection.id);
        if (path) {
          path.style.strokeWidth = width === null ? "" : String(width);
        }
      });
      document.querySelectorAll(".heat-legend").forEach(function (l) { l.hidden = view === "flows"; });
      document.querySelectorAll(".flow-legend").forEach(function (l) { l.hidden = view !== "flows"; });
      var field = document.getElementById("view-field");
      if (field) {
        field.value = view;
      }
      var url = new URL(window.location.href);
      url.searchParams.set("view", view);
      window.history.replaceState(null, "", url.toString());
    }

    document.querySelectorAll("input[name=view-choice]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (radio.checked) {
          show(radio.value);
        }
      });
    });
    show(container.dataset.view === "flows" ? "flows" : "heat");
    container.dataset.nodesShown = String(shown);
    container.dataset.flowsShown = String(labelled);
    container.classList.add("heatmap-ready");
  }

  var heat = document.getElementById("heatmap");
  if (heat && window.BaozhuangViewer) {
    heatmap(heat).catch(function (err) {
      window.BaozhuangViewer.showStatus(heat, "热力图无法显示：" + (err && err.message ? err.message : err), true);
    });
  }

  /* ------------------------------------------------------------------ every hash chain, with progress */

  function chainsRunner(form) {
    var bar = document.getElementById("chains-progress");
    var text = document.getElementById("chains-progress-text");
    var outcome = document.getElementById("chains-result");
    var token = document.querySelector("meta[name=csrf-token]");

    function handle(line) {
      if (line.error) {
        text.textContent = "核验失败：" + line.error;
        text.className = "errors";
      } else if (line.result) {
        bar.value = bar.max;
        text.textContent = "核验完成：共 " + line.result.checked + " 件。";
        outcome.textContent = "";
        outcome.hidden = false;
        if (!line.result.broken.length) {
          outcome.appendChild(el("p", "audit audit-ok chains-verdict", "✔ 全部审计链完整"));
        } else {
          outcome.appendChild(el("p", "audit audit-broken chains-verdict",
                                 "✘ " + line.result.broken.length + " 件申请的审计链断裂："));
          var list = el("ul", "broken-chains");
          line.result.broken.forEach(function (b) {
            var item = el("li");
            var link = el("a", "", b.app_no);
            link.href = "/audit/" + encodeURIComponent(b.app_no);
            item.appendChild(link);
            item.appendChild(document.createTextNode("：第 " + b.seq + " 条事件 — " + b.problem));
            list.appendChild(item);
          });
          outcome.appendChild(list);
        }
      } else if (line.total) {
        bar.max = line.total;
        bar.value = line.done;
        text.textContent = "已核验 " + line.done + " / " + line.total;
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      form.querySelector("button").disabled = true;
      bar.hidden = false;
      text.textContent = "正在核验…";
      run().catch(function (err) {
        text.textContent = "核验中断：" + err.message;
        text.className = "errors";
      });
    });

    async function run() {
      var response = await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        headers: { "Accept": "application/x-ndjson", "X-CSRFToken": token ? token.content : "" }
      });
      await window.readNdjson(response, handle);
    }
  }

  var chains = document.getElementById("chains-run");
  if (chains) {
    chainsRunner(chains);
  }
})();
