/* The diagram heatmap (insight/heatmap.html) and the run over every hash chain (insight/chains.html).
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
      // how often the way into this node is taken: its incoming flows drawn thicker with its share
      (element.incoming || []).forEach(function (flow) {
        var gfx = diagram.canvas.getGraphics(flow);
        var path = gfx && gfx.querySelector("path");
        if (path) {
          path.style.strokeWidth = String(1.5 + 5 * node.share);
        }
      });
      shown += 1;
    });
    container.dataset.nodesShown = String(shown);
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
      if (!response.ok || !response.body) {
        throw new Error("HTTP " + response.status);
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var pending = "";
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) {
          break;
        }
        pending += decoder.decode(chunk.value, { stream: true });
        var lines = pending.split("\n");
        pending = lines.pop();
        lines.filter(Boolean).forEach(function (line) { handle(JSON.parse(line)); });
      }
      if (pending.trim()) {
        handle(JSON.parse(pending));
      }
    }
  }

  var chains = document.getElementById("chains-run");
  if (chains) {
    chainsRunner(chains);
  }
})();
