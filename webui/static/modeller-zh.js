/* bpmn-js in Chinese: a `translate` override for the palette, context pad, replace menu, search and popup
   menus (bpmn-js and diagram-js pass every label through it), and the hard-coded English of the token
   simulation, rewritten in the page as it appears. Bundled by scripts/assets.sh into the modeller kit. */

export const WORDS = {
  // palette and tools
  "Activate hand tool": "抓手工具（平移画布）",
  "Activate lasso tool": "套索工具（框选元素）",
  "Activate create/remove space tool": "空间工具（插入或移除空间）",
  "Activate global connect tool": "连线工具",
  "Create start event": "开始事件",
  "Create end event": "结束事件",
  "Create task": "任务",
  "Create gateway": "网关",
  "Create intermediate/boundary event": "中间事件或边界事件",
  "Create data object reference": "数据对象",
  "Create data store reference": "数据存储",
  "Create expanded sub-process": "展开的子流程",
  "Create pool/participant": "池（参与者）",
  "Create group": "分组",
  // context pad
  "Append task": "追加任务",
  "Append end event": "追加结束事件",
  "Append gateway": "追加网关",
  "Append intermediate/boundary event": "追加中间事件",
  "Append receive task": "追加接收任务",
  "Append message intermediate catch event": "追加消息捕获事件",
  "Append timer intermediate catch event": "追加定时捕获事件",
  "Append conditional intermediate catch event": "追加条件捕获事件",
  "Append signal intermediate catch event": "追加信号捕获事件",
  "Append compensation activity": "追加补偿活动",
  "Append text annotation": "追加文本注释",
  "Add text annotation": "添加文本注释",
  "Change element": "更换元素类型",
  "Change type": "更换类型",
  "Connect to other element": "连接到其他元素",
  "Connect using association": "用关联连接",
  "Connect using sequence/message flow or association": "用顺序流或关联连接",
  "Connect using data input association": "用数据输入关联连接",
  "Delete": "删除",
  "Add lane above": "在上方添加泳道",
  "Add lane below": "在下方添加泳道",
  "Divide into two lanes": "拆分为两个泳道",
  "Divide into three lanes": "拆分为三个泳道",
  "Align elements": "对齐元素",
  "Align elements left": "左对齐",
  "Align elements center": "水平居中对齐",
  "Align elements right": "右对齐",
  "Align elements top": "顶端对齐",
  "Align elements middle": "垂直居中对齐",
  "Align elements bottom": "底端对齐",
  "Distribute elements horizontally": "水平等距分布",
  "Distribute elements vertically": "垂直等距分布",
  "Open {element}": "打开 {element}",
  "Search in diagram": "在图中搜索",
  "Search": "搜索",
  "No matching entries found.": "没有匹配的项。",
  "Back": "返回",
  // replace menu
  "Task": "任务",
  "User task": "用户任务",
  "Service task": "服务任务",
  "Manual task": "人工任务",
  "Send task": "发送任务",
  "Receive task": "接收任务",
  "Script task": "脚本任务（不允许）",
  "Business rule task": "业务规则任务（不支持）",
  "Call activity": "调用活动（不支持）",
  "Sub-process": "子流程（不支持）",
  "Sub-process (collapsed)": "子流程（折叠，不支持）",
  "Sub-process (expanded)": "子流程（展开，不支持）",
  "Event sub-process": "事件子流程（不支持）",
  "Ad-hoc sub-process": "自由子流程（不支持）",
  "Ad-hoc sub-process (collapsed)": "自由子流程（折叠，不支持）",
  "Ad-hoc sub-process (expanded)": "自由子流程（展开，不支持）",
  "Transaction": "事务（不支持）",
  "Exclusive gateway": "排他网关",
  "Parallel gateway": "并行网关",
  "Inclusive gateway": "包容网关",
  "Complex gateway": "复杂网关（不支持）",
  "Event-based gateway": "事件网关",
  "Event based instantiating Gateway": "事件网关（实例化）",
  "Parallel Event based instantiating Gateway": "并行事件网关（实例化）",
  "Start event": "开始事件",
  "End event": "结束事件",
  "Intermediate throw event": "中间抛出事件",
  "Terminate end event": "终止结束事件",
  "Message start event": "消息开始事件",
  "Timer start event": "定时开始事件",
  "Conditional start event": "条件开始事件",
  "Signal start event": "信号开始事件",
  "Error start event": "错误开始事件",
  "Escalation start event": "升级开始事件",
  "Compensation start event": "补偿开始事件",
  "Message start event (non-interrupting)": "消息开始事件（不中断）",
  "Timer start event (non-interrupting)": "定时开始事件（不中断）",
  "Conditional start event (non-interrupting)": "条件开始事件（不中断）",
  "Signal start event (non-interrupting)": "信号开始事件（不中断）",
  "Escalation start event (non-interrupting)": "升级开始事件（不中断）",
  "Message intermediate catch event": "消息捕获事件",
  "Message intermediate throw event": "消息抛出事件",
  "Timer intermediate catch event": "定时捕获事件",
  "Escalation intermediate throw event": "升级抛出事件",
  "Conditional intermediate catch event": "条件捕获事件",
  "Link intermediate catch event": "链接捕获事件",
  "Link intermediate throw event": "链接抛出事件",
  "Compensation intermediate throw event": "补偿抛出事件",
  "Signal intermediate catch event": "信号捕获事件",
  "Signal intermediate throw event": "信号抛出事件",
  "Message end event": "消息结束事件",
  "Escalation end event": "升级结束事件",
  "Error end event": "错误结束事件",
  "Cancel end event": "取消结束事件",
  "Compensation end event": "补偿结束事件",
  "Signal end event": "信号结束事件",
  "Message boundary event": "消息边界事件",
  "Message boundary event (non-interrupting)": "消息边界事件（不中断）",
  "Timer boundary event": "定时边界事件",
  "Timer boundary event (non-interrupting)": "定时边界事件（不中断）",
  "Escalation boundary event": "升级边界事件",
  "Escalation boundary event (non-interrupting)": "升级边界事件（不中断）",
  "Conditional boundary event": "条件边界事件",
  "Conditional boundary event (non-interrupting)": "条件边界事件（不中断）",
  "Error boundary event": "错误边界事件",
  "Cancel boundary event": "取消边界事件",
  "Signal boundary event": "信号边界事件",
  "Signal boundary event (non-interrupting)": "信号边界事件（不中断）",
  "Compensation boundary event": "补偿边界事件",
  "Sequence flow": "顺序流",
  "Default flow": "默认流向",
  "Conditional flow": "条件流向",
  "Data object reference": "数据对象",
  "Data store reference": "数据存储",
  "Expanded pool/participant": "展开的池",
  "Empty pool/participant": "空池",
  "Loop": "循环（不支持）",
  "Parallel multi-instance": "并行多实例（不支持）",
  "Sequential multi-instance": "串行多实例（不支持）",
  "Collection": "集合",
  "Participant multiplicity": "参与者多重性",
  "Toggle non-interrupting": "切换为不中断",
  "Tasks": "任务",
  "Gateways": "网关",
  "Events": "事件",
  "Data objects": "数据对象",
  "Participants": "池",
  "Sub-processes": "子流程",
  "Others": "其他",
  "Tools": "工具",
  "Create element": "创建元素",
  "Append element": "追加元素",
  "Create {type}": "创建{type}",
  "Append {type}": "追加{type}",
  // errors bpmn-js reports while importing
  "no shape type specified": "未指定图形类型",
  "unparsable content <{element}> detected; this may indicate an invalid BPMN 2.0 diagram file":
    "发现无法解析的内容 <{element}>：文件可能不是有效的 BPMN 2.0 流程图",
  "element {element} referenced by {referenced}#{property} not yet drawn": "元素 {element} 尚未绘制",
  "unknown di {di} for element {semantic}": "元素 {semantic} 的图形信息未知",
  "missing {semantic}#attachedToRef": "边界事件 {semantic} 缺少依附节点",
  "already rendered {element}": "{element} 已绘制",
  "failed to import {element}": "无法导入 {element}"
};

/* Text the token simulation writes itself, without passing it through translate. */
export const SIMULATION_WORDS = {
  "Token Simulation": "令牌模拟",
  "Toggle Simulation Log": "模拟日志",
  "Reset Simulation": "重置模拟",
  "Play/Pause Simulation": "播放/暂停",
  "Pause Simulation": "暂停模拟",
  "Play Simulation": "继续模拟",
  "Set Sequence Flow": "选择流向",
  "Trigger Event": "触发事件",
  "Add pause point": "在此暂停",
  "Remove pause point": "取消暂停点",
  "Process started": "流程开始",
  "Process finished": "流程结束",
  "Process canceled": "流程已取消",
  "Finished": "已结束",
  "No Entries": "暂无记录",
  "Found unsupported elements": "有不支持模拟的元素",
  "Not supported": "不支持模拟",
  "Start Event": "开始事件",
  "End Event": "结束事件",
  "User Task": "用户任务",
  "Service Task": "服务任务",
  "Manual Task": "人工任务",
  "Exclusive Gateway": "排他网关",
  "Parallel Gateway": "并行网关",
  "Inclusive Gateway": "包容网关",
  "Intermediate Event": "中间事件",
  "Boundary Event": "边界事件",
  "Task": "任务"
};
const SIMULATION_PREFIXES = [
  ["Set animation speed = ", "动画速度 "],
  ["Focus process instance ", "只看流程实例 "]
];

export function translate(template, replacements) {
  replacements = replacements || {};
  var text = Object.prototype.hasOwnProperty.call(WORDS, template) ? WORDS[template] : template;
  return text.replace(/{([^}]+)}/g, function (_, key) {
    var value = replacements[key];
    return value === undefined || value === null ? "{" + key + "}" : String(value);
  });
}

export const TranslateModule = { translate: ["value", translate] };

function simulationText(text) {
  var trimmed = text.trim();
  if (Object.prototype.hasOwnProperty.call(SIMULATION_WORDS, trimmed)) {
    return text.replace(trimmed, SIMULATION_WORDS[trimmed]);
  }
  for (var i = 0; i < SIMULATION_PREFIXES.length; i++) {
    if (trimmed.indexOf(SIMULATION_PREFIXES[i][0]) === 0) {
      return SIMULATION_PREFIXES[i][1] + trimmed.slice(SIMULATION_PREFIXES[i][0].length);
    }
  }
  return text;
}

function rewrite(node) {
  if (node.nodeType === 3) {
    var changed = simulationText(node.nodeValue);
    if (changed !== node.nodeValue) {
      node.nodeValue = changed;
    }
    return;
  }
  if (node.nodeType !== 1) {
    return;
  }
  if (node.hasAttribute("title")) {
    var title = simulationText(node.getAttribute("title"));
    if (title !== node.getAttribute("title")) {
      node.setAttribute("title", title);
    }
  }
  for (var child = node.firstChild; child; child = child.nextSibling) {
    rewrite(child);
  }
}

/* Keep the token simulation's own words in Chinese inside a container, now and as they are written. */
export function translateSimulation(container) {
  rewrite(container);
  var observer = new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.type === "characterData") {
        rewrite(record.target);
      } else if (record.type === "attributes") {
        rewrite(record.target);
      } else {
        record.addedNodes.forEach(rewrite);
      }
    });
  });
  observer.observe(container, { subtree: true, childList: true, characterData: true, attributes: true,
                                attributeFilter: ["title"] });
  return observer;
}
