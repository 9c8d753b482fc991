/* The analysts' pages (流程设计).
   - #modeller: the bpmn-js Modeler with the spiffworkflow moddle extension (so extension elements survive a
     load/save unchanged), a small side panel for the properties the engine reads, save (the deploy gate's
     problems shown on their elements), deploy.  The modeler is window.baozhuangModeler (tests drive it).
   - #diff: two versions side by side with added / removed / changed elements marked (viewer.js draws them).
   - #migrate-run: migrate the safe applications, reading the NDJSON progress stream into a progress bar.
   Everything the page needs comes from data-* attributes and JSON endpoints, never from inline scripts. */
(function () {
  "use strict";

  var SPIFF = "spiffworkflow:";

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
    this.selected = null;
  }

  Modeller.prototype.say = function (text, kind) {
    this.status.textContent = text;
    this.status.className = kind === "error" ? "errors" : (kind === "ok" ? "ok-text" : "muted");
  };

  Modeller.prototype.start = async function () {
    if (typeof window.BpmnJS !== "function") {
      this.say("流程设计组件未能加载（bpmn-js），请联系管理员。", "error");
      return;
    }
    var fetched = await Promise.all([
      fetch(this.config.moddleUrl, { credentials: "same-origin" }),
      fetch(this.config.xmlUrl, { credentials: "same-origin", headers: { "Accept": "application/xml" } })
    ]);
    if (!fetched[0].ok || !fetched[1].ok) {
      this.say("流程图载入失败（HTTP " + (fetched[0].ok ? fetched[1].status : fetched[0].status) + "）。", "error");
      return;
    }
    var moddle = await fetched[0].json();
    var xml = await fetched[1].text();
    this.modeler = new window.BpmnJS({
      container: document.getElementById("modeller-canvas"),
      moddleExtensions: { spiffworkflow: moddle }
    });
    window.baozhuangModeler = this.modeler;
    var self = this;
    this.modeler.on("selection.changed", function (event) {
      var chosen = event.newSelection || [];
      self.select(chosen.length === 1 ? chosen[0] : null);
    });
    this.modeler.on("commandStack.changed", function () {
      self.dirty = true;
      self.setDeployable(false);
      self.say("已修改，尚未保存。保存后才能校验和部署。", "muted");
    });
    this.modeler.on("element.changed", function (event) {
      if (self.selected && event.element === self.selected && !self.editing) {
        self.select(self.selected);
      }
    });
    this.saveButton.addEventListener("click", function () {
      self.save().catch(function (err) { self.say("保存失败：" + err.message, "error"); });
    });
    this.deployButton.addEventListener("click", function () {
      self.deploy().catch(function (err) { self.say("部署失败：" + err.message, "error"); });
    });
    await this.open(xml);
    if (this.config.problems && this.config.problems.length) {
      this.showProblems(this.config.problems);
    } else if (this.draftId) {
      this.showProblems([]);
    }
    this.setDeployable(this.deployable);
    if (this.config.deployedVersion) {
      this.say("此草稿已部署为第 " + this.config.deployedVersion + " 版；再次保存将另存为新草稿。", "muted");
    }
  };

  /* Import a diagram (also what the tests call to open other files); resolves to bpmn-js's warnings. */
  Modeller.prototype.open = async function (xml) {
    var result = await this.modeler.importXML(xml);
    this.initialView();
    this.dirty = false;
    this.clearProblems();
    this.saveButton.disabled = false;
    this.root.classList.add("modeller-ready");
    var warnings = result.warnings || [];
    this.say(warnings.length ? "流程图已载入（" + warnings.length + " 条导入提示）。" : "流程图已载入。", "muted");
    this.select(null);
    return warnings;
  };

  Modeller.prototype.setDeployable = function (yes) {
    this.deployable = !!yes && !this.dirty && !!this.draftId;
    this.deployButton.disabled = !this.deployable;
    this.deployButton.title = this.deployable ? "将此草稿部署为新版本" : "保存且校验通过后才能部署";
  };

  Modeller.prototype.save = async function () {
    var saved = await this.modeler.saveXML({ format: true });
    this.saveButton.disabled = true;
    this.say("正在保存并校验…", "muted");
    var body = { xml: saved.xml, comment: this.comment.value };
    if (this.draftId && !this.config.deployedVersion) {
      body.draft_id = this.draftId;
    }
    var result = await postJSON(this.config.saveUrl, body);
    this.saveButton.disabled = false;
    if (!result.ok) {
      this.say("保存失败：" + errorMessage(result), "error");
      return;
    }
    this.draftId = result.data.draft_id;
    this.config.deployedVersion = null;
    this.dirty = false;
    window.history.replaceState(null, "", result.data.edit_url);
    this.showProblems(result.data.problems);
    this.setDeployable(result.data.deployable);
    if (result.data.deployable) {
      this.impactLink.href = result.data.impact_url;
      this.impactLink.hidden = false;
    } else {
      this.impactLink.hidden = true;
    }
    this.say(result.data.problems.length
      ? "已保存为草稿 #" + this.draftId + "，校验发现 " + result.data.problems.length + " 个问题，修正后才能部署。"
      : "已保存为草稿 #" + this.draftId + "，校验通过，可以部署。", result.data.problems.length ? "error" : "ok");
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
    this.modeler.get("overlays").remove({ type: "problem" });
    this.problemMarks.forEach(function (id) { canvas.removeMarker(id, "has-problem"); });
    this.problemMarks = [];
  };

  Modeller.prototype.showProblems = function (problems) {
    this.clearProblems();
    var registry = this.modeler.get("elementRegistry");
    var canvas = this.modeler.get("canvas");
    var overlays = this.modeler.get("overlays");
    var self = this;
    var byElement = {};
    this.problemList.textContent = "";
    this.problemCount.textContent = problems.length ? problems.length + " 个问题" : "";
    if (!problems.length) {
      this.problemList.appendChild(el("li", { className: "ok-text" }, "校验通过：没有发现问题。"));
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
      self.problemList.appendChild(item);
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
    var first = Object.keys(byElement)[0];
    if (first) {
      this.reveal(first, true);
    }
  };

  function bounds(element) {
    if (!element.waypoints) {
      return { x: element.x, y: element.y, width: element.width, height: element.height };
    }
    var xs = element.waypoints.map(function (p) { return p.x; });
    var ys = element.waypoints.map(function (p) { return p.y; });
    var x = Math.min.apply(null, xs), y = Math.min.apply(null, ys);
    return { x: x, y: y, width: Math.max.apply(null, xs) - x, height: Math.max.apply(null, ys) - y };
  }

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

  /* Wide diagrams fitted whole are too small to read: show them from their left edge at a readable size. */
  Modeller.prototype.initialView = function () {
    var canvas = this.modeler.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    var inner = canvas.viewbox().inner;
    var size = canvas.getSize();
    if (!inner || !inner.width || canvas.zoom() >= 0.6) {
      return;
    }
    var scale = 0.7;
    canvas.viewbox({ x: inner.x - 20, y: inner.y - 20, width: size.width / scale, height: size.height / scale });
  };

  /* -------------------------------------------------------------- the side panel */

  function isA(bo, type) {
    return bo && typeof bo.$instanceOf === "function" && bo.$instanceOf(type);
  }

  function extension(bo, type) {
    var values = bo.extensionElements && bo.extensionElements.values || [];
    return values.filter(function (v) { return v.$type === type; })[0] || null;
  }

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
    panel.appendChild(el("p", { className: "muted mono panel-id" }, element.type.replace("bpmn:", "") + " · " + bo.id));
    var modeling = this.modeler.get("modeling");

    if (isA(bo, "bpmn:Lane")) {
      var roles = this.config.roles.map(function (r) { return [r, r]; });
      var lane = this.field("泳道（角色）", select("lane-name", roles, bo.name || "", "（请选择角色）"),
        "泳道名必须是系统中的角色名称");
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
      var fromGateway = bo.sourceRef && (isA(bo.sourceRef, "bpmn:ExclusiveGateway") || isA(bo.sourceRef, "bpmn:InclusiveGateway"));
      var isDefault = bo.sourceRef && bo.sourceRef.default === bo;
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
      return;
    }

    if (isA(bo, "bpmn:UserTask")) {
      var forms = this.config.forms.map(function (f) { return [f, f]; });
      var form = this.field("表单", select("form", forms, this.property(bo, "formJsonSchemaFilename"), "（请选择表单）"));
      form.addEventListener("change", function () { self.setProperty(element, "formJsonSchemaFilename", form.value); });
      var limit = this.field("时限（工作日）", input("timeLimit", this.property(bo, "timeLimit")), "留空表示不计时限");
      limit.addEventListener("change", function () { self.setProperty(element, "timeLimit", limit.value.trim()); });
      var assignee = this.field("指派给（流程变量）", input("assignee", this.property(bo, "assignee")),
        "例如 customer_manager：由该变量中的人办理；留空则由泳道角色认领");
      assignee.addEventListener("change", function () { self.setProperty(element, "assignee", assignee.value.trim()); });
      return;
    }

    if (isA(bo, "bpmn:ServiceTask")) {
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
        var box = self.field("参数 " + param + (required ? " *" : ""), input("param-" + param, existing ? existing.value : ""),
          "取值表达式，通常是流程变量名");
        box.addEventListener("change", function () { self.setParameter(element, param, box.value.trim()); });
      });
      if (operator) {
        var result = this.field("结果变量", input("resultVariable", operator.resultVariable));
        result.addEventListener("change", function () {
          self.edit(function () { modeling.updateModdleProperties(element, operator, { resultVariable: result.value.trim() || undefined }); });
        });
      }
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

  Modeller.prototype.setProperty = function (element, name, value) {
    var self = this;
    var moddle = this.modeler.get("moddle");
    var modeling = this.modeler.get("modeling");
    this.edit(function () {
      var bo = element.businessObject;
      var props = extension(bo, SPIFF + "Properties");
      if (!props) {
        if (!value) {
          return;
        }
        var ext = self.extensions(element);
        props = moddle.create(SPIFF + "Properties", { properties: [] });
        modeling.updateModdleProperties(element, ext, { values: ext.values.concat([props]) });
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
})();
