/* The analysts' pages (流程设计).
   - #modeller: the modeller kit (bpmn-js in Chinese with a minimap and the token simulation, built by
     scripts/assets.sh) with the spiffworkflow moddle extension (so extension elements survive a load/save
     unchanged); a properties panel built from what the engine says the gate knows (every marker with its
     accepted values, the operators and their parameters, the roles); a form editor for the JSON-Schema
     forms a draft carries; problems checked while drawing (debounced) and on save, grouped by cause and
     drawn on their elements; open a file, download the XML or an SVG; the example paths played on the
     draft; deploy after seeing what changes. The modeler is window.baozhuangModeler (tests drive it).
   - #diff: two versions side by side with added / removed / changed elements marked (viewer.js draws them).
   - #migrate-run: migrate the safe applications, reading the NDJSON progress stream into a progress bar.
   - form[data-confirm]: asks before submitting (deleting a draft).
   Everything the page needs comes from data-* attributes and JSON endpoints, never from inline scripts. */
(function () {
  "use strict";

  var SPIFF = "spiffworkflow:";
  var FORM_PROPERTY = "formJsonSchemaFilename";
  var CHECK_DELAY_MS = 700;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "className") {
        node.className = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  async function postJSON(url, body) {
    var response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body)
    });
    var data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    return { ok: response.ok, status: response.status, data: data };
  }

  function errorMessage(result) {
    if (result.data && result.data.error && result.data.error.message) {
      return result.data.error.message;
    }
    if (result.data && result.data.message) {
      return result.data.message;
    }
    return "请求失败（HTTP " + result.status + "）";
  }

  function download(filename, text, type) {
    var blob = new Blob([text], { type: type });
    var link = el("a", { href: URL.createObjectURL(blob), download: filename });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  }

  var KIND_NAMES = {
    "bpmn:StartEvent": "开始事件", "bpmn:EndEvent": "结束事件", "bpmn:UserTask": "用户任务", "bpmn:ManualTask": "人工任务",
    "bpmn:ServiceTask": "服务任务", "bpmn:Task": "任务", "bpmn:SendTask": "发送任务", "bpmn:ReceiveTask": "接收任务",
    "bpmn:ScriptTask": "脚本任务", "bpmn:ExclusiveGateway": "排他网关", "bpmn:ParallelGateway": "并行网关",
    "bpmn:InclusiveGateway": "包容网关", "bpmn:EventBasedGateway": "事件网关", "bpmn:SequenceFlow": "顺序流",
    "bpmn:Lane": "泳道", "bpmn:Participant": "池", "bpmn:Process": "流程", "bpmn:TextAnnotation": "文本注释",
    "bpmn:IntermediateCatchEvent": "中间捕获事件", "bpmn:IntermediateThrowEvent": "中间抛出事件",
    "bpmn:BoundaryEvent": "边界事件", "bpmn:SubProcess": "子流程", "bpmn:Group": "分组", "bpmn:Association": "关联"
  };

  /* Which heading a problem goes under: the gate reports each root cause once; the list groups them. */
  var PROBLEM_GROUPS = [
    ["流程走向", ["dead_end", "unreachable", "dangling_flow", "dangling_boundary", "no_start", "no_end", "busy_loop", "no_condition", "multiple_outgoing"]],
    ["条件与表达式", ["expression"]],
    ["表单", ["no_form", "missing_form", "bad_form"]],
    ["泳道与角色", ["no_lane", "unknown_role"]],
    ["服务任务与处理规则", ["no_operator", "unknown_operator", "operator_id_clash", "missing_parameter", "unknown_parameter"]],
    ["环节标记", ["bad_marker"]],
    ["不支持的元素", ["forbidden"]],
    ["文件与 BPMN 规范", ["schema", "spiff", "not_xml", "not_bpmn", "doctype", "empty", "too_large", "process_count", "process_id"]]
  ];

  function problemGroup(code) {
    for (var i = 0; i < PROBLEM_GROUPS.length; i++) {
      if (PROBLEM_GROUPS[i][1].indexOf(code) >= 0) {
        return PROBLEM_GROUPS[i][0];
      }
    }
    return "其他";
  }

  function bounds(element) {
    if (!element.waypoints) {
      return { x: element.x, y: element.y, width: element.width, height: element.height };
    }
    var xs = element.waypoints.map(function (p) { return p.x; });
    var ys = element.waypoints.map(function (p) { return p.y; });
    var x = Math.min.apply(null, xs), y = Math.min.apply(null, ys);
    return { x: x, y: y, width: Math.max.apply(null, xs) - x, height: Math.max.apply(null, ys) - y };
  }

  function isA(bo, type) {
    return bo && typeof bo.$instanceOf === "function" && bo.$instanceOf(type);
  }

  function extension(bo, type) {
    var values = bo.extensionElements && bo.extensionElements.values || [];
    return values.filter(function (v) { return v.$type === type; })[0] || null;
  }

  /* "bpmn:UserTask" -> "userTask": the kind names the engine's markers use. */
  function kindOf(bo) {
    var local = (bo.$type || "").replace(/^bpmn:/, "");
    return local.charAt(0).toLowerCase() + local.slice(1);
  }

  /* ------------------------------------------------------------------ the modeller */

  function Modeller(root) {
    this.root = root;
    this.config = JSON.parse(root.dataset.config);
    this.status = document.getElementById("modeller-status");
    this.panel = document.getElementById("modeller-panel");
    this.saveButton = document.getElementById("modeller-save");
    this.deployButton = document.getElementById("modeller-deploy");
    this.impactLink = document.getElementById("modeller-impact");
    this.comment = document.getElementById("modeller-comment");
    this.problemList = document.getElementById("modeller-problems");
    this.problemCount = document.getElementById("modeller-problems-count");
    this.draftId = this.config.draftId;
    this.deployable = this.config.deployable;
    this.dirty = false;
    this.problemMarks = [];
    this.scenarioMarks = [];
    this.selected = null;
    this.forms = {};
    this.touchedForms = {};
    this.checkTimer = null;
    this.checkSeq = 0;
    this.simulating = false;
  }

  Modeller.prototype.say = function (text, kind) {
    this.status.textContent = text;
    this.status.className = kind === "error" ? "errors" : (kind === "ok" ? "ok-text" : "muted");
  };

  Modeller.prototype.start = async function () {
    var kit = window.BaozhuangModelerKit;
    if (!kit || typeof kit.Modeler !== "function") {
      this.say("流程设计组件未能加载（modeller-kit），请联系管理员。", "error");
      return;
    }
    var fetched = await Promise.all([
      fetch(this.config.moddleUrl, { credentials: "same-origin" }),
      fetch(this.config.xmlUrl, { credentials: "same-origin", headers: { "Accept": "application/xml" } }),
      fetch(this.config.formsUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    ]);
    var failed = fetched.filter(function (r) { return !r.ok; })[0];
    if (failed) {
      this.say("流程图载入失败（HTTP " + failed.status + "）。", "error");
      return;
    }
    var moddle = await fetched[0].json();
    var xml = await fetched[1].text();
    var forms = await fetched[2].json();
    this.forms = forms.forms || {};
    var container = document.getElementById("modeller-canvas");
    this.modeler = new kit.Modeler({
      container: container,
      moddleExtensions: { spiffworkflow: moddle },
      additionalModules: kit.modules
    });
    kit.translateSimulation(container);
    window.baozhuangModeler = this.modeler;
    this.wire();
    await this.open(xml);
    if (this.config.problems && this.config.problems.length) {
      this.showProblems(this.config.problems);
    } else if (this.draftId) {
      this.showProblems([]);
    } else {
      this.scheduleCheck(0);
    }
    this.setDeployable(this.deployable);
    if (this.config.deployedVersion) {
      this.say("此草稿已部署为第 " + this.config.deployedVersion + " 版；再次保存将另存为新草稿。", "muted");
    }
  };

  Modeller.prototype.wire = function () {
    var self = this;
    var modeler = this.modeler;
    modeler.on("selection.changed", function (event) {
      var chosen = event.newSelection || [];
      self.select(chosen.length === 1 ? chosen[0] : null);
    });
    modeler.on("commandStack.changed", function () {
      self.changed("已修改，尚未保存。");
    });
    modeler.on("element.changed", function (event) {
      if (self.selected && event.element === self.selected && !self.editing) {
        self.select(self.selected);
      }
    });
    modeler.on("tokenSimulation.toggleMode", function (event) {
      self.simulating = !!event.active;
      if (self.simulating) {
        self.clearScenario();
      }
      document.getElementById("modeller-simulate").classList.toggle("active", self.simulating);
      self.say(self.simulating ? "令牌模拟中：点开始事件上的 ▶ 放出令牌；网关处点选流向。再点“令牌模拟”回到编辑。"
        : (self.dirty ? "已修改，尚未保存。" : "已回到编辑。"), "muted");
    });
    window.addEventListener("beforeunload", function (event) {
      if (self.dirty) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
    function on(id, fn) {
      document.getElementById(id).addEventListener("click", function () {
        Promise.resolve(fn()).catch(function (err) { self.say("操作失败：" + (err && err.message || err), "error"); });
      });
    }
    on("modeller-save", function () { return self.save(); });
    on("modeller-deploy", function () { return self.confirmDeploy(); });
    on("modeller-download-xml", function () { return self.downloadXML(); });
    on("modeller-download-svg", function () { return self.downloadSVG(); });
    on("modeller-zoom-in", function () { self.zoomBy(1.25); });
    on("modeller-zoom-out", function () { self.zoomBy(0.8); });
    on("modeller-fit", function () { self.initialView(true); });
    on("modeller-minimap-toggle", function () { self.modeler.get("minimap").toggle(); });
    // Opened after this click has bubbled up: the search pad closes on any click outside it.
    on("modeller-search", function () { setTimeout(function () { self.modeler.get("searchPad").toggle(); }, 0); });
    on("modeller-simulate", function () { self.modeler.get("toggleMode").toggleMode(); });
    on("modeller-scenarios-run", function () { return self.runScenarios(); });
    document.getElementById("modeller-open").addEventListener("change", function (event) {
      var file = event.target.files && event.target.files[0];
      event.target.value = "";
      if (file) {
        self.openFile(file).catch(function (err) { self.say("文件无法打开：" + (err && err.message || err), "error"); });
      }
    });
    var dialog = document.getElementById("modeller-deploy-dialog");
    document.getElementById("deploy-dialog-cancel").addEventListener("click", function () { dialog.close(); });
    document.getElementById("deploy-dialog-confirm").addEventListener("click", function () {
      dialog.close();
      self.deploy().catch(function (err) { self.say("部署失败：" + err.message, "error"); });
    });
    var formDialog = document.getElementById("modeller-form-dialog");
    document.getElementById("form-dialog-cancel").addEventListener("click", function () { formDialog.close(); });
    document.getElementById("form-dialog-apply").addEventListener("click", function () { self.applyFormEditor(); });
  };

  /* Something changed that is not saved: deploy waits for a save, the gate looks again shortly. */
  Modeller.prototype.changed = function (message) {
    this.dirty = true;
    this.setDeployable(false);
    this.say(message + "停笔片刻后自动校验；保存后才能部署。", "muted");
    this.scheduleCheck(CHECK_DELAY_MS);
  };

  /* Import a diagram (also what the tests call to open other files); resolves to bpmn-js's warnings. */
  Modeller.prototype.open = async function (xml) {
    var result = await this.modeler.importXML(xml);
    this.initialView();
    this.dirty = false;
    this.clearProblems();
    this.clearScenario();
    this.saveButton.disabled = false;
    document.getElementById("modeller-download-xml").disabled = false;
    document.getElementById("modeller-download-svg").disabled = false;
    try {
      this.modeler.get("minimap").open();
    } catch (err) {
      /* a diagram without a plane has nothing to show in the minimap */
    }
    this.root.classList.add("modeller-ready");
    var warnings = result.warnings || [];
    this.say(warnings.length ? "流程图已载入（" + warnings.length + " 条导入提示）。" : "流程图已载入。", "muted");
    this.select(null);
    return warnings;
  };

  /* A .bpmn file from the analyst's disk replaces the diagram on the canvas; it is a change to save. */
  Modeller.prototype.openFile = async function (file) {
    var text = await file.text();
    if (this.dirty && !window.confirm("当前修改尚未保存，打开文件将替换画布上的流程图。继续？")) {
      return;
    }
    try {
      await this.open(text);
    } catch (err) {
      this.say("文件「" + file.name + "」不是可以打开的 BPMN 流程图：" + (err && err.message || err), "error");
      return;
    }
    this.changed("已打开文件「" + file.name + "」，尚未保存。");
    this.scheduleCheck(0);
  };

  Modeller.prototype.downloadXML = async function () {
    var saved = await this.modeler.saveXML({ format: true });
    download(this.config.process + (this.draftId ? "-draft" + this.draftId : "") + ".bpmn", saved.xml, "application/xml");
  };

  Modeller.prototype.downloadSVG = async function () {
    var saved = await this.modeler.saveSVG();
    download(this.config.process + (this.draftId ? "-draft" + this.draftId : "") + ".svg", saved.svg, "image/svg+xml");
  };

  Modeller.prototype.zoomBy = function (factor) {
    var canvas = this.modeler.get("canvas");
    canvas.zoom(Math.max(0.2, Math.min(4, canvas.zoom() * factor)));
  };

  Modeller.prototype.setDeployable = function (yes) {
    this.deployable = !!yes && !this.dirty && !!this.draftId;
    this.deployButton.disabled = !this.deployable;
    this.deployButton.title = this.deployable ? "将此草稿部署为新版本" : "保存且校验通过后才能部署";
  };

  /* The forms the draft carries: those its nodes name, and those edited here. */
  Modeller.prototype.formsPayload = function () {
    var names = {};
    var self = this;
    this.modeler.get("elementRegistry").getAll().forEach(function (element) {
      var name = element.businessObject && self.property(element.businessObject, FORM_PROPERTY);
      if (name) {
        names[name] = true;
      }
    });
    Object.keys(this.touchedForms).forEach(function (name) { names[name] = true; });
    var out = {};
    Object.keys(names).sort().forEach(function (name) {
      if (self.forms[name]) {
        out[name] = self.forms[name];
      }
    });
    return out;
  };

  Modeller.prototype.scheduleCheck = function (delay) {
    var self = this;
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(function () {
      self.check().catch(function (err) { self.say("校验未完成：" + (err && err.message || err), "error"); });
    }, delay);
  };

  /* The gate on what is on the canvas now; an answer overtaken by a later edit is dropped. */
  Modeller.prototype.check = async function () {
    var seq = ++this.checkSeq;
    var saved = await this.modeler.saveXML({ format: false });
    var result = await postJSON(this.config.checkUrl, { xml: saved.xml, forms: this.formsPayload() });
    if (seq !== this.checkSeq) {
      return;
    }
    if (!result.ok) {
      this.say("校验未完成：" + errorMessage(result), "error");
      return;
    }
    var problems = result.data.problems;
    this.showProblems(problems);
    this.root.dataset.checked = String(seq);
    if (this.dirty) {
      this.say(problems.length ? "已修改，尚未保存。边画边校验发现 " + problems.length + " 个问题（图上红框标出，详见下方“校验结果”）。"
        : "已修改，尚未保存。边画边校验：没有发现问题。", problems.length ? "error" : "muted");
    }
  };

  Modeller.prototype.save = async function () {
    clearTimeout(this.checkTimer);
    this.checkSeq++;  // a check still on its way must not overwrite what the save reports
    var saved = await this.modeler.saveXML({ format: true });
    this.saveButton.disabled = true;
    this.say("正在保存并校验…", "muted");
    var body = { xml: saved.xml, comment: this.comment.value, forms: this.formsPayload() };
    if (this.draftId && !this.config.deployedVersion) {
      body.draft_id = this.draftId;
    }
    var result;
    try {
      result = await postJSON(this.config.saveUrl, body);
    } finally {
      this.saveButton.disabled = false;
    }
    if (!result.ok) {
      this.say("保存失败：" + errorMessage(result), "error");
      return;
    }
    this.draftId = result.data.draft_id;
    this.config.deployedVersion = null;
    this.dirty = false;
    window.history.replaceState(null, "", result.data.edit_url);
    document.getElementById("modeller-source").textContent = "草稿 #" + this.draftId;
    var problems = result.data.problems;
    this.say(problems.length
      ? "已保存为草稿 #" + this.draftId + "，校验发现 " + problems.length + " 个问题，修正后才能部署。"
      : "已保存为草稿 #" + this.draftId + "，校验通过，可以部署。", problems.length ? "error" : "ok");
    this.setDeployable(result.data.deployable);
    if (result.data.deployable) {
      this.impactLink.href = result.data.impact_url;
      this.impactLink.hidden = false;
    } else {
      this.impactLink.hidden = true;
    }
    this.showProblems(problems);
    var located = problems.filter(function (pr) { return pr.element_id; })[0];
    if (located) {
      this.reveal(located.element_id, true);
    }
  };

  /* Deploying shows first what changes from the newest version, and asks. */
  Modeller.prototype.confirmDeploy = async function () {
    if (!this.deployable) {
      return;
    }
    var response = await fetch(this.config.diffUrl.replace("{id}", String(this.draftId)),
                               { credentials: "same-origin", headers: { "Accept": "application/json" } });
    var data = await response.json();
    if (!response.ok) {
      this.say("无法比较草稿与最新版本：" + errorMessage({ status: response.status, data: data }), "error");
      return;
    }
    document.getElementById("deploy-dialog-versions").textContent =
      "与第 " + data.from_version + " 版相比，部署为第 " + data.to_version + " 版将：";
    var list = document.getElementById("deploy-dialog-summary");
    list.textContent = "";
    (data.summary.length ? data.summary : ["流程走向不变（只改了名称、布局或表单以外的内容）。"]).forEach(function (line) {
      list.appendChild(el("li", {}, line));
    });
    document.getElementById("modeller-deploy-dialog").showModal();
  };

  Modeller.prototype.deploy = async function () {
    if (!this.deployable) {
      return;
    }
    this.deployButton.disabled = true;
    this.say("正在部署…", "muted");
    var url = this.config.deployUrl.replace("{id}", String(this.draftId));
    var result = await postJSON(url, { comment: this.comment.value });
    if (!result.ok) {
      var problems = result.data && result.data.error && result.data.error.problems;
      if (problems) {
        this.showProblems(problems);
      }
      this.say("部署被拒绝：" + errorMessage(result), "error");
      this.setDeployable(false);
      return;
    }
    this.config.deployedVersion = result.data.version;
    this.deployable = false;
    this.deployButton.disabled = true;
    this.status.textContent = "";
    this.status.className = "ok-text deployed";
    this.status.appendChild(document.createTextNode(result.data.message + "。新受理的申请将使用新版本。"));
    var back = el("a", { href: result.data.index_url }, "返回流程列表");
    this.status.appendChild(back);
  };

  /* -------------------------------------------------------------- problems on their elements */

  Modeller.prototype.clearProblems = function () {
    if (!this.modeler) {
      return;
    }
    var canvas = this.modeler.get("canvas");
    var registry = this.modeler.get("elementRegistry");
    this.modeler.get("overlays").remove({ type: "problem" });
    // An element deleted since it was marked has no marker left to remove (and canvas.removeMarker would throw).
    this.problemMarks.forEach(function (id) {
      if (registry.get(id)) {
        canvas.removeMarker(id, "has-problem");
      }
    });
    this.problemMarks = [];
  };

  Modeller.prototype.showProblems = function (problems) {
    this.clearProblems();
    var registry = this.modeler.get("elementRegistry");
    var canvas = this.modeler.get("canvas");
    var overlays = this.modeler.get("overlays");
    var self = this;
    var byElement = {};
    var groups = {};
    this.problemList.textContent = "";
    this.problemCount.textContent = problems.length ? problems.length + " 个问题" : "";
    if (!problems.length) {
      this.problemList.appendChild(el("p", { className: "ok-text" }, "校验通过：没有发现问题。"));
      return;
    }
    problems.forEach(function (problem) {
      var item = el("li", { className: "problem", "data-element-id": problem.element_id || "", "data-code": problem.code });
      if (problem.element_id) {
        var element = registry.get(problem.element_id);
        var label = element && element.businessObject && element.businessObject.name
          ? element.businessObject.name + "（" + problem.element_id + "）" : problem.element_id;
        var link = el("button", { type: "button", className: "link" }, label);
        link.addEventListener("click", function () { self.reveal(problem.element_id); });
        item.appendChild(link);
        item.appendChild(document.createTextNode("："));
        if (element) {
          (byElement[problem.element_id] = byElement[problem.element_id] || []).push(problem.message);
        }
      }
      item.appendChild(document.createTextNode(problem.message));
      var group = problemGroup(problem.code);
      (groups[group] = groups[group] || []).push(item);
    });
    PROBLEM_GROUPS.map(function (g) { return g[0]; }).concat(["其他"]).forEach(function (name) {
      if (!groups[name]) {
        return;
      }
      self.problemList.appendChild(el("h3", { className: "problem-group" }, name + "（" + groups[name].length + "）"));
      var list = el("ul", { className: "problems" });
      groups[name].forEach(function (item) { list.appendChild(item); });
      self.problemList.appendChild(list);
    });
    Object.keys(byElement).forEach(function (id) {
      canvas.addMarker(id, "has-problem");
      self.problemMarks.push(id);
      var box = el("div", { className: "problem-overlay", "data-element-id": id });
      byElement[id].forEach(function (message) { box.appendChild(el("div", {}, message)); });
      var element = registry.get(id);
      var position = element.waypoints ? { top: 0, left: 0 } : { bottom: -6, left: 0 };
      overlays.add(id, "problem", { position: position, html: box });
    });
  };

  /* Centre an element at full size, so its overlay can be read, and select it. */
  Modeller.prototype.reveal = function (id, keepSelection) {
    var element = this.modeler.get("elementRegistry").get(id);
    if (!element) {
      return;
    }
    var canvas = this.modeler.get("canvas");
    var size = canvas.getSize();
    var box = bounds(element);
    canvas.viewbox({ x: box.x + box.width / 2 - size.width / 2, y: box.y + box.height / 2 - size.height / 2,
                     width: size.width, height: size.height });
    if (!keepSelection) {
      this.modeler.get("selection").select(element);
    }
  };

  /* The whole diagram right of the palette; wide diagrams fitted whole are too small to read, so those are
     shown from their left edge at a readable size (the minimap shows the rest). */
  Modeller.prototype.initialView = function () {
    var canvas = this.modeler.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    var inner = canvas.viewbox().inner;
    var size = canvas.getSize();
    if (!inner || !inner.width) {
      return;
    }
    var palette = this.root.querySelector(".djs-palette");
    var left = (palette ? palette.offsetLeft + palette.offsetWidth : 60) + 24;
    var margin = 24;
    var scale = Math.min(1, (size.width - left - margin) / inner.width, (size.height - 2 * margin) / inner.height);
    if (scale < 0.6) {
      scale = 0.7;
    }
    canvas.viewbox({ x: inner.x - left / scale, y: inner.y - margin / scale,
                     width: size.width / scale, height: size.height / scale });
  };

  /* -------------------------------------------------------------- the example paths on the draft */

  Modeller.prototype.clearScenario = function () {
    if (!this.modeler) {
      return;
    }
    var canvas = this.modeler.get("canvas");
    var registry = this.modeler.get("elementRegistry");
    this.scenarioMarks.forEach(function (mark) {
      if (registry.get(mark[0])) {
        canvas.removeMarker(mark[0], mark[1]);
      }
    });
    this.scenarioMarks = [];
  };

  Modeller.prototype.mark = function (id, marker) {
    if (this.modeler.get("elementRegistry").get(id)) {
      this.modeler.get("canvas").addMarker(id, marker);
      this.scenarioMarks.push([id, marker]);
    }
  };

  /* Mark what a path (or every path together) covers; where a path stopped; with every path, what none covers. */
  Modeller.prototype.highlight = function (covered, flows, stoppedAt, showUncovered) {
    this.clearScenario();
    var self = this;
    covered.forEach(function (id) { self.mark(id, "scenario-covered"); });
    flows.forEach(function (id) { self.mark(id, "scenario-covered"); });
    if (stoppedAt) {
      this.mark(stoppedAt, "scenario-stopped");
    }
    if (showUncovered) {
      var seen = {};
      covered.forEach(function (id) { seen[id] = true; });
      this.flowNodes().forEach(function (element) {
        if (!seen[element.id]) {
          self.mark(element.id, "scenario-uncovered");
        }
      });
    }
  };

  Modeller.prototype.flowNodes = function () {
    return this.modeler.get("elementRegistry").filter(function (element) {
      return !element.waypoints && element.type !== "label" && isA(element.businessObject, "bpmn:FlowNode");
    });
  };

  Modeller.prototype.nodeName = function (id) {
    var element = this.modeler.get("elementRegistry").get(id);
    return element && element.businessObject && element.businessObject.name ? element.businessObject.name : id;
  };

  Modeller.prototype.runScenarios = async function () {
    var card = document.getElementById("modeller-scenarios");
    var rows = document.getElementById("modeller-scenarios-rows");
    var summary = document.getElementById("modeller-scenarios-summary");
    card.hidden = false;
    rows.textContent = "";
    summary.textContent = "正在试走…";
    var saved = await this.modeler.saveXML({ format: false });
    var result = await postJSON(this.config.scenariosUrl, { xml: saved.xml, forms: this.formsPayload() });
    if (!result.ok) {
      summary.textContent = "试走失败：" + errorMessage(result);
      return;
    }
    var self = this;
    if (result.data.problems.length) {
      summary.textContent = "草稿未通过校验（" + result.data.problems.length + " 个问题），先修正再试走示例路径。";
      this.showProblems(result.data.problems);
      return;
    }
    var runs = result.data.runs;
    var union = {}, unionFlows = {};
    runs.forEach(function (run) {
      run.covered.forEach(function (id) { union[id] = true; });
      run.flows.forEach(function (id) { unionFlows[id] = true; });
    });
    var nodes = this.flowNodes().map(function (e) { return e.id; });
    var coveredCount = nodes.filter(function (id) { return union[id]; }).length;
    var passed = runs.filter(function (run) { return run.completed; }).length;
    summary.textContent = passed + " / " + runs.length + " 条走通；合计经过 " + coveredCount + " / " + nodes.length + " 个节点";
    function choose(row, fn) {
      row.addEventListener("click", function () {
        Array.prototype.forEach.call(rows.children, function (r) { r.classList.remove("chosen"); });
        row.classList.add("chosen");
        fn();
      });
    }
    var all = el("tr", { "data-scenario": "*" });
    all.appendChild(el("td", {}, "全部示例路径"));
    all.appendChild(el("td", {}, "经过 " + coveredCount + " 个节点，未经过 " + (nodes.length - coveredCount) + " 个（虚线框）"));
    choose(all, function () { self.highlight(Object.keys(union), Object.keys(unionFlows), null, true); });
    rows.appendChild(all);
    runs.forEach(function (run) {
      var row = el("tr", { "data-scenario": run.key, "data-completed": String(run.completed) });
      row.appendChild(el("td", {}, run.title));
      var text = run.completed ? "走通（" + run.steps_done + " 步）"
        : "停在「" + (run.stopped_name || self.nodeName(run.stopped_at || "")) + "」：" + (run.problem || "");
      row.appendChild(el("td", { className: run.completed ? "result-ok" : "result-stopped" }, text));
      choose(row, function () {
        self.highlight(run.covered, run.flows, run.completed ? null : run.stopped_at, false);
        if (!run.completed && run.stopped_at) {
          self.reveal(run.stopped_at, true);
        }
      });
      rows.appendChild(row);
    });
    all.click();
  };

  /* -------------------------------------------------------------- the properties panel */

  Modeller.prototype.field = function (label, control, hint) {
    var wrap = el("label", { className: "panel-field" });
    wrap.appendChild(el("span", {}, label));
    wrap.appendChild(control);
    if (hint) {
      wrap.appendChild(el("small", { className: "muted" }, hint));
    }
    this.panel.appendChild(wrap);
    return control;
  };

  function input(name, value) {
    var node = el("input", { type: "text", name: name });
    node.value = value || "";
    return node;
  }

  function select(name, options, value, blank) {
    var node = el("select", { name: name });
    if (blank !== undefined) {
      node.appendChild(el("option", { value: "" }, blank));
    }
    var known = false;
    options.forEach(function (option) {
      var item = el("option", { value: option[0] }, option[1]);
      if (option[0] === value) {
        known = true;
      }
      node.appendChild(item);
    });
    if (value && !known) {
      node.appendChild(el("option", { value: value }, value + "（未登记）"));
    }
    node.value = value || "";
    return node;
  }

  /* Run an edit without redrawing the panel under the person's cursor. */
  Modeller.prototype.edit = function (fn) {
    this.editing = true;
    try {
      fn();
    } finally {
      this.editing = false;
    }
  };

  Modeller.prototype.select = function (element) {
    this.selected = element;
    var panel = this.panel;
    panel.textContent = "";
    panel.appendChild(el("h2", {}, "属性"));
    if (!element || element.type === "label") {
      panel.appendChild(el("p", { className: "muted" }, "点选图中的元素以编辑它的属性。"));
      return;
    }
    var bo = element.businessObject;
    var self = this;
    panel.appendChild(el("p", { className: "muted mono panel-id" }, (KIND_NAMES[bo.$type] || bo.$type) + " · " + bo.id));
    var modeling = this.modeler.get("modeling");

    if (isA(bo, "bpmn:Lane")) {
      var roles = this.config.roles.map(function (r) { return [r, r]; });
      var lane = this.field("泳道（角色）", select("lane-name", roles, bo.name || "", "（请选择角色）"),
        "泳道中的人工任务由该角色办理");
      lane.addEventListener("change", function () {
        self.edit(function () { modeling.updateLabel(element, lane.value); });
      });
      return;
    }

    var name = this.field("名称", input("name", bo.name));
    name.addEventListener("change", function () {
      self.edit(function () { modeling.updateLabel(element, name.value); });
    });

    if (isA(bo, "bpmn:Participant") && bo.processRef) {
      this.clocks(element, bo.processRef);
      return;
    }

    if (isA(bo, "bpmn:SequenceFlow")) {
      this.flowFields(element);
      return;
    }
    var kind = kindOf(bo);
    var markers = this.config.markers.filter(function (m) { return m.kinds.indexOf(kind) >= 0; });
    if (markers.length) {
      panel.appendChild(el("h3", {}, "环节设置"));
    }
    markers.forEach(function (marker) { self.markerField(element, marker); });
    if (isA(bo, "bpmn:ServiceTask")) {
      this.operatorFields(element);
    }
  };

  Modeller.prototype.flowFields = function (element) {
    var bo = element.businessObject;
    var self = this;
    var modeling = this.modeler.get("modeling");
    var source = bo.sourceRef;
    var fromGateway = source && (isA(source, "bpmn:ExclusiveGateway") || isA(source, "bpmn:InclusiveGateway"));
    var isDefault = source && source.default === bo;
    var condition = el("textarea", { name: "condition", rows: "3" });
    condition.value = bo.conditionExpression ? (bo.conditionExpression.body || "") : "";
    this.field("条件表达式", condition, isDefault ? "这是网关的默认流向（其他条件都不满足时走这里）"
      : (fromGateway ? "例如：capacity_kva > 3000；只允许安全表达式" : "只有网关出来的连线需要条件"));
    condition.addEventListener("change", function () {
      var text = condition.value.trim();
      self.edit(function () {
        var expression = text ? self.modeler.get("moddle").create("bpmn:FormalExpression", { body: text }) : undefined;
        modeling.updateProperties(element, { conditionExpression: expression });
      });
    });
    if (fromGateway) {
      var wrap = el("label", { className: "panel-check" });
      var box = el("input", { type: "checkbox", name: "default-flow" });
      box.checked = !!isDefault;
      wrap.appendChild(box);
      wrap.appendChild(document.createTextNode("默认流向（其他条件都不满足时走这条）"));
      this.panel.appendChild(wrap);
      box.addEventListener("change", function () {
        var gateway = self.modeler.get("elementRegistry").get(source.id);
        modeling.updateProperties(gateway, { "default": box.checked ? bo : undefined });
        self.select(element);
      });
    }
  };

  /* One property the gate knows, offered as the engine describes it: a choice of its accepted values (with
     their Chinese names), the form (with the form editor), or free text (an expression where it is one). */
  Modeller.prototype.markerField = function (element, marker) {
    var self = this;
    var bo = element.businessObject;
    var current = this.property(bo, marker.name);
    var hint = marker.hint + (marker.expression && marker.hint.indexOf("表达式") < 0 ? "（安全表达式）" : "");
    if (marker.name === FORM_PROPERTY) {
      var names = Object.keys(this.forms).sort().map(function (n) {
        var title = self.forms[n] && self.forms[n].title;
        return [n, title ? title + "（" + n + "）" : n];
      });
      var form = this.field(marker.title, select("form", names, current, "（请选择表单）"), marker.hint);
      form.addEventListener("change", function () { self.setProperty(element, FORM_PROPERTY, form.value); });
      var actions = el("div", { className: "form-actions" });
      var editButton = el("button", { type: "button", name: "edit-form" }, "编辑表单…");
      editButton.disabled = !current || !this.forms[current];
      editButton.addEventListener("click", function () { self.openFormEditor(element, self.property(bo, FORM_PROPERTY), false); });
      var newButton = el("button", { type: "button", name: "new-form" }, "新建表单…");
      newButton.addEventListener("click", function () { self.openFormEditor(element, null, true); });
      actions.appendChild(editButton);
      actions.appendChild(newButton);
      this.panel.appendChild(actions);
      return;
    }
    var control;
    if (marker.values) {
      control = this.field(marker.title, select(marker.name, marker.values, current, "（无）"), hint);
    } else {
      control = this.field(marker.title, input(marker.name, current), hint);
      if (marker.expression) {
        control.classList.add("mono");
      }
    }
    control.setAttribute("data-marker", marker.name);
    control.addEventListener("change", function () { self.setProperty(element, marker.name, control.value.trim()); });
  };

  Modeller.prototype.operatorFields = function (element) {
    var self = this;
    var bo = element.businessObject;
    var modeling = this.modeler.get("modeling");
    this.panel.appendChild(el("h3", {}, "处理规则"));
    var operator = extension(bo, SPIFF + "ServiceTaskOperator");
    var operators = this.config.operators.map(function (o) { return [o.name, o.title + "（" + o.name + "）"]; });
    var chosen = this.field("处理规则", select("operator", operators, operator ? operator.id : "", "（请选择处理规则）"));
    chosen.addEventListener("change", function () { self.setOperator(element, chosen.value); });
    var known = this.config.operators.filter(function (o) { return operator && o.name === operator.id; })[0];
    var names = known ? known.params.slice() : [];
    var current = this.parameters(operator);
    current.forEach(function (p) { if (names.indexOf(p.id) < 0) { names.push(p.id); } });
    names.forEach(function (param) {
      var existing = current.filter(function (p) { return p.id === param; })[0];
      var required = known && known.required.indexOf(param) >= 0;
      var unknown = known && known.params.indexOf(param) < 0;
      var box = self.field("参数 " + param + (required ? " *" : (unknown ? "（此规则没有这个参数）" : "（可选）")),
        input("param-" + param, existing ? existing.value : ""), "取值表达式，通常是流程变量名");
      box.classList.add("mono");
      box.addEventListener("change", function () { self.setParameter(element, param, box.value.trim()); });
    });
    if (operator) {
      var result = this.field("结果变量", input("resultVariable", operator.resultVariable), "规则的结果存入这个流程变量");
      result.addEventListener("change", function () {
        self.edit(function () { modeling.updateModdleProperties(element, operator, { resultVariable: result.value.trim() || undefined }); });
      });
    }
  };

  /* The process's policy clocks (时限): one spiffworkflow property "policyClock.<key>" each, on the process. */
  var CLOCK = "policyClock.";

  Modeller.prototype.clocks = function (element, process) {
    var self = this;
    var props = extension(process, SPIFF + "Properties");
    var list = props ? (props.properties || []).filter(function (p) { return (p.name || "").indexOf(CLOCK) === 0; }) : [];
    this.panel.appendChild(el("h3", {}, "时限（按规定口径计时）"));
    this.panel.appendChild(el("p", { className: "muted" },
      "每项写作 name: 名称; start: 起算节点; stop: 止算节点; limit: 工作日（可为表达式）; note: 文字说明。" +
      "多个节点用逗号（任一）或加号（全部）连接；有效期另写 kind: validity 与 guard。"));
    list.forEach(function (p) {
      var box = el("textarea", { name: p.name, rows: "4" });
      box.value = p.value || "";
      self.field("时限 " + p.name.slice(CLOCK.length), box, "清空即删除该时限");
      box.addEventListener("change", function () { self.setProcessProperty(element, process, p.name, box.value.trim()); });
    });
    var key = this.field("新增时限标识", input("new-clock-key", ""), "小写字母、数字和下划线，例如 site_survey");
    var value = el("textarea", { name: "new-clock-value", rows: "4" });
    this.field("新增时限定义", value);
    var add = el("button", { type: "button", className: "small", id: "modeller-add-clock" }, "添加时限");
    add.addEventListener("click", function () {
      if (key.value.trim() && value.value.trim()) {
        self.setProcessProperty(element, process, CLOCK + key.value.trim(), value.value.trim());
        self.select(element);
      }
    });
    this.panel.appendChild(add);
  };

  /* A spiffworkflow:property of ``process`` (the element's business object, or the pool's process), set,
     changed or removed in one undoable edit; its extension elements are created when missing. */
  Modeller.prototype.setProcessProperty = function (element, process, name, value) {
    var moddle = this.modeler.get("moddle");
    var modeling = this.modeler.get("modeling");
    this.edit(function () {
      var props = extension(process, SPIFF + "Properties");
      if (!props) {
        if (!value) {
          return;
        }
        if (!process.extensionElements) {
          modeling.updateModdleProperties(element, process,
            { extensionElements: moddle.create("bpmn:ExtensionElements", { values: [] }) });
        }
        var ext = process.extensionElements;
        props = moddle.create(SPIFF + "Properties", { properties: [] });
        modeling.updateModdleProperties(element, ext, { values: (ext.values || []).concat([props]) });
      }
      var list = props.properties || [];
      var found = list.filter(function (p) { return p.name === name; })[0];
      if (!value && found) {
        modeling.updateModdleProperties(element, props, { properties: list.filter(function (p) { return p !== found; }) });
      } else if (value && found) {
        modeling.updateModdleProperties(element, found, { value: value });
      } else if (value) {
        var created = moddle.create(SPIFF + "Property", { name: name, value: value });
        modeling.updateModdleProperties(element, props, { properties: list.concat([created]) });
      }
    });
  };

  Modeller.prototype.property = function (bo, name) {
    var props = extension(bo, SPIFF + "Properties");
    var found = props && (props.properties || []).filter(function (p) { return p.name === name; })[0];
    return found ? found.value : "";
  };

  Modeller.prototype.parameters = function (operator) {
    return operator && operator.parameterList ? (operator.parameterList.parameters || []) : [];
  };

  /* The element's bpmn:extensionElements, created (undoably) when missing. */
  Modeller.prototype.extensions = function (element) {
    var bo = element.businessObject;
    if (!bo.extensionElements) {
      var created = this.modeler.get("moddle").create("bpmn:ExtensionElements", { values: [] });
      this.modeler.get("modeling").updateProperties(element, { extensionElements: created });
    }
    return bo.extensionElements;
  };

  /* A spiffworkflow:property of the element itself (a marker, a form). */
  Modeller.prototype.setProperty = function (element, name, value) {
    this.setProcessProperty(element, element.businessObject, name, value);
  };

  Modeller.prototype.setOperator = function (element, name) {
    var self = this;
    var moddle = this.modeler.get("moddle");
    var modeling = this.modeler.get("modeling");
    this.edit(function () {
      var operator = extension(element.businessObject, SPIFF + "ServiceTaskOperator");
      if (!operator) {
        var ext = self.extensions(element);
        operator = moddle.create(SPIFF + "ServiceTaskOperator", {
          id: name, parameterList: moddle.create(SPIFF + "Parameters", { parameters: [] })
        });
        modeling.updateModdleProperties(element, ext, { values: ext.values.concat([operator]) });
      } else {
        modeling.updateModdleProperties(element, operator, { id: name });
      }
    });
    this.select(element);
  };

  Modeller.prototype.setParameter = function (element, param, value) {
    var moddle = this.modeler.get("moddle");
    var modeling = this.modeler.get("modeling");
    this.edit(function () {
      var operator = extension(element.businessObject, SPIFF + "ServiceTaskOperator");
      if (!operator) {
        return;
      }
      var holder = operator.parameterList;
      if (!holder) {
        holder = moddle.create(SPIFF + "Parameters", { parameters: [] });
        modeling.updateModdleProperties(element, operator, { parameterList: holder });
      }
      var list = holder.parameters || [];
      var found = list.filter(function (p) { return p.id === param; })[0];
      if (!value && found) {
        modeling.updateModdleProperties(element, holder, { parameters: list.filter(function (p) { return p !== found; }) });
      } else if (value && found) {
        modeling.updateModdleProperties(element, found, { value: value });
      } else if (value) {
        var created = moddle.create(SPIFF + "Parameter", { id: param, type: "any", value: value });
        modeling.updateModdleProperties(element, holder, { parameters: list.concat([created]) });
      }
    });
  };

  /* -------------------------------------------------------------- the form editor (JSON Schema) */

  var FIELD_TYPES = [
    ["text", "文本"], ["date", "日期"], ["date-time", "日期时间"], ["number", "数字"], ["integer", "整数"],
    ["boolean", "是/否"], ["multi", "多选（清单）"], ["list", "多行清单"]
  ];
  var FIELD_KEY = /^[a-z_][a-z0-9_]*$/;
  var FORM_FILE = /^[A-Za-z0-9_\-]{1,75}$/;

  function baseType(prop) {
    var type = prop.type;
    if (Array.isArray(type)) {
      type = type.filter(function (t) { return t !== "null"; })[0];
    }
    return type;
  }

  function fieldType(prop) {
    var type = baseType(prop);
    if (type === "array") {
      return prop.items && prop.items.enum ? "multi" : "list";
    }
    if (type === "string" && (prop.format === "date" || prop.format === "date-time")) {
      return prop.format;
    }
    return { number: "number", integer: "integer", boolean: "boolean" }[type] || "text";
  }

  function optionsText(prop) {
    var source = prop.items && prop.items.enum ? prop.items : prop;
    var values = source.enum || [];
    var names = source["x-enumNames"] || [];
    return values.map(function (v, i) { return v === null ? null : v + "=" + (names[i] !== undefined ? names[i] : v); })
      .filter(function (line) { return line !== null; }).join("\n");
  }

  Modeller.prototype.openFormEditor = function (element, name, isNew) {
    var element_name = element.businessObject.name || "";
    var schema = isNew ? {
      "$schema": "https://json-schema.org/draft/2020-12/schema", "title": element_name, "type": "object",
      "properties": {}, "required": [], "additionalProperties": false
    } : JSON.parse(JSON.stringify(this.forms[name]));
    this.formEditing = { element: element, name: name, isNew: isNew, schema: schema };
    var root = document.getElementById("form-editor");
    root.textContent = "";
    document.getElementById("form-editor-errors").textContent = "";
    document.getElementById("form-dialog-title").textContent = isNew ? "新建表单" : "编辑表单 " + name;
    var head = el("div", { className: "form-editor-head" });
    var file = el("input", { type: "text", name: "form-file", size: "28" });
    file.value = isNew ? (element.businessObject.id || "form") : name.replace(/\.json$/, "");
    file.disabled = !isNew;
    var fileLabel = el("label", {}, "文件名（.json）");
    fileLabel.appendChild(file);
    var title = el("input", { type: "text", name: "form-title", size: "28" });
    title.value = schema.title || "";
    var titleLabel = el("label", {}, "表单标题");
    titleLabel.appendChild(title);
    head.appendChild(fileLabel);
    head.appendChild(titleLabel);
    root.appendChild(head);
    var table = el("table", { className: "form-fields" });
    var thead = el("thead");
    var hr = el("tr");
    ["字段名（英文）", "标签（中文）", "类型", "必填", "选项（每行 值=中文名）", ""].forEach(function (h) { hr.appendChild(el("th", {}, h)); });
    thead.appendChild(hr);
    table.appendChild(thead);
    var body = el("tbody", { id: "form-fields-rows" });
    table.appendChild(body);
    root.appendChild(table);
    var required = schema.required || [];
    var self = this;
    Object.keys(schema.properties || {}).forEach(function (key) {
      body.appendChild(self.fieldRow(key, schema.properties[key], required.indexOf(key) >= 0));
    });
    var add = el("button", { type: "button", name: "add-field" }, "添加字段");
    add.addEventListener("click", function () {
      var row = self.fieldRow("", { type: "string", title: "" }, false);
      body.appendChild(row);
      row.querySelector("input[name=field-key]").focus();
    });
    root.appendChild(add);
    document.getElementById("modeller-form-dialog").showModal();
  };

  Modeller.prototype.fieldRow = function (key, prop, isRequired) {
    var row = el("tr", { className: "form-field" });
    row.dataset.original = key;
    var keyInput = input("field-key", key);
    var label = input("field-title", prop.title || "");
    var type = select("field-type", FIELD_TYPES, fieldType(prop));
    var req = el("input", { type: "checkbox", name: "field-required" });
    req.checked = isRequired;
    var options = el("textarea", { name: "field-options", rows: "2" });
    options.value = optionsText(prop);
    [keyInput, label, type, req, options].forEach(function (control) {
      var cell = el("td");
      cell.appendChild(control);
      row.appendChild(cell);
    });
    var actions = el("td", { className: "actions" });
    [["↑", "上移", function () { if (row.previousElementSibling) { row.parentNode.insertBefore(row, row.previousElementSibling); } }],
     ["↓", "下移", function () { if (row.nextElementSibling) { row.parentNode.insertBefore(row.nextElementSibling, row); } }],
     ["删除", "删除此字段", function () { row.remove(); }]].forEach(function (a) {
      var button = el("button", { type: "button", title: a[1] }, a[0]);
      button.addEventListener("click", a[2]);
      actions.appendChild(button);
    });
    row.appendChild(actions);
    return row;
  };

  /* Read the editor back into a JSON Schema, keeping every setting of a field the editor does not show
     (lengths, patterns, descriptions…) unless its type changed; mistakes are named next to the row. */
  Modeller.prototype.applyFormEditor = function () {
    var editing = this.formEditing;
    var errors = [];
    var root = document.getElementById("form-editor");
    root.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    function bad(control, message) {
      control.setAttribute("aria-invalid", "true");
      control.title = message;
      errors.push(message);
    }
    var fileInput = root.querySelector("input[name=form-file]");
    var name = editing.isNew ? fileInput.value.trim().replace(/\.json$/, "") + ".json" : editing.name;
    if (editing.isNew && !FORM_FILE.test(name.replace(/\.json$/, ""))) {
      bad(fileInput, "文件名只能用英文字母、数字、下划线和连字符");
    } else if (editing.isNew && this.forms[name]) {
      bad(fileInput, "已有表单 " + name + "，请换一个文件名");
    }
    var titleInput = root.querySelector("input[name=form-title]");
    if (!titleInput.value.trim()) {
      bad(titleInput, "请填写表单标题");
    }
    var old = editing.schema;
    var properties = {};
    var required = [];
    var rows = root.querySelectorAll("tr.form-field");
    Array.prototype.forEach.call(rows, function (row, index) {
      var at = "第 " + (index + 1) + " 个字段：";
      var keyInput = row.querySelector("input[name=field-key]");
      var key = keyInput.value.trim();
      var title = row.querySelector("input[name=field-title]");
      var type = row.querySelector("select[name=field-type]").value;
      var optionsInput = row.querySelector("textarea[name=field-options]");
      if (!FIELD_KEY.test(key)) {
        bad(keyInput, at + "字段名只能用小写英文字母、数字和下划线，且不以数字开头");
        return;
      }
      if (properties[key]) {
        bad(keyInput, at + "字段名 " + key + " 重复");
        return;
      }
      if (!title.value.trim()) {
        bad(title, at + "请填写中文标签");
      }
      var original = row.dataset.original && old.properties ? old.properties[row.dataset.original] : null;
      var prop = original && fieldType(original) === type ? JSON.parse(JSON.stringify(original)) : {};
      var nullable = original && Array.isArray(original.type) && original.type.indexOf("null") >= 0;
      var json = { text: "string", date: "string", "date-time": "string", number: "number", integer: "integer",
                   boolean: "boolean", multi: "array", list: "array" }[type];
      prop.type = nullable ? [json, "null"] : json;
      prop.title = title.value.trim();
      if (type === "date" || type === "date-time") {
        prop.format = type;
      }
      var values = [], names = [];
      optionsInput.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean).forEach(function (line) {
        var cut = line.indexOf("=");
        var value = (cut >= 0 ? line.slice(0, cut) : line).trim();
        var label = (cut >= 0 ? line.slice(cut + 1) : line).trim();
        if (!value || values.indexOf(value) >= 0) {
          bad(optionsInput, at + "选项“" + line + "”的值为空或重复");
          return;
        }
        values.push(value);
        names.push(label || value);
      });
      delete prop.enum;
      delete prop["x-enumNames"];
      if (type === "multi") {
        if (!values.length) {
          bad(optionsInput, at + "多选字段至少要有一个选项");
        }
        prop.items = { type: "string", "enum": values, "x-enumNames": names };
        prop.uniqueItems = true;
      } else if (type === "list") {
        prop.items = prop.items && !prop.items.enum ? prop.items : { type: "string", maxLength: 200 };
      } else if (values.length && (type === "text" || type === "number" || type === "integer")) {
        prop.enum = type === "text" ? values : values.map(Number);
        if (type !== "text" && prop.enum.some(function (v) { return isNaN(v); })) {
          bad(optionsInput, at + "数字字段的选项值必须是数字");
        }
        prop["x-enumNames"] = names;
      }
      if (nullable && prop.enum && prop.enum.indexOf(null) < 0) {
        prop.enum.push(null);
        prop["x-enumNames"].push("（无）");
      }
      properties[key] = prop;
      if (row.querySelector("input[name=field-required]").checked) {
        required.push(key);
      }
    });
    if (!rows.length) {
      errors.push("表单至少要有一个字段");
    }
    document.getElementById("form-editor-errors").textContent = errors.join("；");
    if (errors.length) {
      return;
    }
    var schema = JSON.parse(JSON.stringify(old));
    schema.title = titleInput.value.trim();
    schema.properties = properties;
    schema.required = required;
    this.forms[name] = schema;
    this.touchedForms[name] = true;
    document.getElementById("modeller-form-dialog").close();
    if (editing.isNew) {
      this.setProperty(editing.element, FORM_PROPERTY, name);  // a change on the canvas: checked as any other
    } else {
      this.changed("表单 " + name + " 已修改，尚未保存。");
    }
    this.select(editing.element);
  };

  /* ------------------------------------------------------------------ versions side by side */

  async function renderDiff(root) {
    var markers = JSON.parse(root.dataset.markers);
    var sides = root.querySelectorAll("[data-xml-url]");
    var diagrams = [];
    var marked = [];
    for (var i = 0; i < sides.length; i++) {
      var container = sides[i];
      var response = await fetch(container.dataset.xmlUrl, { credentials: "same-origin" });
      if (!response.ok) {
        window.BaozhuangViewer.showStatus(container, "流程图载入失败（HTTP " + response.status + "）。", true);
        continue;
      }
      var diagram = await window.BaozhuangViewer.open(container, await response.text());
      diagrams.push(diagram);
      var kinds = container.dataset.side === "from" ? ["removed", "changed"] : ["added", "changed"];
      kinds.forEach(function (kind) {
        (markers[kind] || []).forEach(function (id) {
          var element = diagram.registry.get(id);
          if (element) {
            diagram.canvas.addMarker(id, "diff-" + kind);
            marked.push(bounds(element));
          }
        });
      });
    }
    focusOn(diagrams, marked);
    linkViews(diagrams);
  }

  /* Both versions show the same region: around what changed, at a readable size. */
  function focusOn(diagrams, boxes) {
    if (!boxes.length || !diagrams.length) {
      return;
    }
    var x1 = Math.min.apply(null, boxes.map(function (b) { return b.x; })) - 150;
    var y1 = Math.min.apply(null, boxes.map(function (b) { return b.y; })) - 150;
    var x2 = Math.max.apply(null, boxes.map(function (b) { return b.x + b.width; })) + 150;
    var y2 = Math.max.apply(null, boxes.map(function (b) { return b.y + b.height; })) + 150;
    diagrams.forEach(function (diagram) {
      var size = diagram.canvas.getSize();
      var scale = Math.min(1, size.width / (x2 - x1), size.height / (y2 - y1));
      var width = size.width / scale, height = size.height / scale;
      diagram.canvas.viewbox({ x: (x1 + x2) / 2 - width / 2, y: (y1 + y2) / 2 - height / 2, width: width, height: height });
    });
  }

  /* Panning or zooming one side moves the other with it. */
  function linkViews(diagrams) {
    var syncing = false;
    diagrams.forEach(function (diagram) {
      diagram.viewer.on("canvas.viewbox.changed", function (event) {
        if (syncing) {
          return;
        }
        syncing = true;
        diagrams.forEach(function (other) {
          if (other !== diagram) {
            other.canvas.viewbox({ x: event.viewbox.x, y: event.viewbox.y,
                                   width: event.viewbox.width, height: event.viewbox.height });
          }
        });
        syncing = false;
      });
    });
  }

  /* ------------------------------------------------------------------ migration with progress */

  function migrationRunner(form) {
    var bar = document.getElementById("migrate-progress");
    var text = document.getElementById("migrate-progress-text");
    var outcome = document.getElementById("migrate-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      bar.hidden = false;
      text.textContent = "正在迁移…";
      run().catch(function (err) {
        text.textContent = "迁移中断：" + err.message;
        text.className = "errors";
      });
    });

    function showResult(result) {
      outcome.textContent = "";
      outcome.hidden = false;
      outcome.appendChild(el("h3", {}, "迁移结果"));
      outcome.appendChild(el("p", { className: "ok-text migrated-count" },
        "已迁移 " + result.migrated.length + " 件" + (result.migrated.length ? "：" + result.migrated.join("、") : "")));
      if (result.skipped.length) {
        outcome.appendChild(el("p", {}, "未迁移 " + result.skipped.length + " 件（继续按原版本办结）："));
        var list = el("ul", { className: "skipped" });
        result.skipped.forEach(function (s) { list.appendChild(el("li", {}, s.app_no + "：" + s.reason)); });
        outcome.appendChild(list);
      }
    }

    function handle(line) {
      if (line.error) {
        text.textContent = "迁移失败：" + line.error;
        text.className = "errors";
      } else if (line.result) {
        bar.value = bar.max;
        text.textContent = "迁移完成。";
        showResult(line.result);
      } else {
        bar.max = Math.max(1, line.total);
        bar.value = line.done;
        text.textContent = "已处理 " + line.done + " / " + line.total + (line.app_no ? "（" + line.app_no + "）" : "");
      }
    }

    async function run() {
      var response = await fetch(form.action, {
        method: "POST", credentials: "same-origin", body: new FormData(form),
        headers: { "Accept": "application/x-ndjson", "X-CSRFToken": csrfToken() }
      });
      await window.readNdjson(response, handle);
    }
  }

  var modellerRoot = document.getElementById("modeller");
  if (modellerRoot) {
    var modeller = new Modeller(modellerRoot);
    window.baozhuangModeller = modeller;
    modeller.start().catch(function (err) {
      modeller.say("流程图无法打开：" + (err && err.message ? err.message : err), "error");
    });
  }
  var diffRoot = document.getElementById("diff");
  if (diffRoot) {
    renderDiff(diffRoot).catch(function (err) {
      diffRoot.appendChild(el("p", { className: "errors" }, "流程图无法显示：" + (err && err.message ? err.message : err)));
    });
  }
  var migrateForm = document.getElementById("migrate-run");
  if (migrateForm) {
    migrationRunner(migrateForm);
  }
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      if (window.baozhuangModeller) {
        window.baozhuangModeller.dirty = false;  // asked already: no second warning on leaving
      }
    });
  });
})();
