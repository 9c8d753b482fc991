// The supervision dashboard's charts (Chart.js from npm, served under /vendor/chart.js/).
// The figures come from data.json with the page's own filters; the tables on the page stay the source
// for people without JavaScript.
(function () {
  "use strict";

  const root = document.getElementById("dashboard");
  if (!root || typeof Chart === "undefined") {
    return;
  }

  const STATE_COLOURS = {
    on_time: "#2e7d32", due_soon: "#f9a825", overdue: "#c62828", no_limit: "#90a4ae", clock_stopped: "#5e35b1",
  };
  const BLUE = "#0b5cad";
  const LIGHT_BLUE = "#9cc3ee";

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false; // a dashboard is read, not watched
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.title.font = { size: 14, weight: "600" };

  // A bar chart's options: the categories (nodes, variants, scores) on one axis, the values on the other.
  // Charts per node lie on their side (indexAxis "y") so that the Chinese node names stay readable.
  function options(title, categoryTitle, valueTitle, horizontal) {
    const category = { title: { display: true, text: categoryTitle }, ticks: { autoSkip: false } };
    const value = { title: { display: true, text: valueTitle }, beginAtZero: true };
    return {
      responsive: true,
      indexAxis: horizontal ? "y" : "x",
      plugins: { title: { display: true, text: title }, legend: { display: true, position: "bottom" } },
      scales: horizontal ? { x: value, y: category } : { x: category, y: value },
    };
  }

  // Give a chart lying on its side room for every row.
  function fit(id, rows, rowHeight) {
    const canvas = document.getElementById(id);
    if (canvas && canvas.parentElement) {
      canvas.parentElement.style.height = Math.max(220, rows * rowHeight + 110) + "px";
    }
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) {
      return null;
    }
    return new Chart(canvas, config);
  }

  function percent(value) {
    return value === null ? null : Math.round(value * 1000) / 10;
  }

  function render(data) {
    const unit = data.duration_unit;

    const open = data.open_tasks;
    const openOptions = options("在办任务时限状态", "环节", "任务数（件）", true);
    openOptions.scales.x.stacked = true;
    openOptions.scales.y.stacked = true;
    openOptions.scales.x.ticks = { precision: 0 };
    fit("chart-open", open.length, 24);
    draw("chart-open", {
      type: "bar",
      data: {
        labels: open.map((n) => n.label),
        datasets: data.due_states.map((state) => ({
          label: state.label,
          data: open.map((n) => n.counts[state.key] || 0),
          backgroundColor: STATE_COLOURS[state.key],
        })),
      },
      options: openOptions,
    });

    fit("chart-durations", data.durations.length, 30);
    draw("chart-durations", {
      type: "bar",
      data: {
        labels: data.durations.map((d) => d.label),
        datasets: [
          { label: "中位数", data: data.durations.map((d) => d.median), backgroundColor: BLUE },
          { label: "90 分位", data: data.durations.map((d) => d.p90), backgroundColor: LIGHT_BLUE },
        ],
      },
      options: options("环节办理时长", "环节", "时长（" + unit + "）", true),
    });

    const rateAxis = { min: 0, max: 100, title: { display: true, text: "按时率（%）" } };
    const onTime = data.on_time.filter((n) => n.with_limit > 0);
    const onTimeOptions = options("环节按时办结率（有时限的环节）", "环节", "按时率（%）", true);
    onTimeOptions.scales.x = rateAxis;
    fit("chart-on-time", onTime.length, 24);
    draw("chart-on-time", {
      type: "bar",
      data: {
        labels: onTime.map((n) => n.label),
        datasets: [{
          label: "按时办结率",
          data: onTime.map((n) => percent(n.rate)),
          backgroundColor: "#2e7d32",
        }],
      },
      options: onTimeOptions,
    });

    const e2e = data.end_to_end;
    const e2eOptions = options("全流程按时率", "业务类型", "按时率（%）", false);
    e2eOptions.scales.y = Object.assign({}, rateAxis);
    draw("chart-end-to-end", {
      type: "bar",
      data: {
        labels: e2e.map((e) => e.label),
        datasets: [{ label: "全流程按时率", data: e2e.map((e) => percent(e.rate)), backgroundColor: BLUE }],
      },
      options: e2eOptions,
    });

    const scores = ["1", "2", "3", "4", "5"];
    const satOptions = options(
      "回访满意度分布（平均 " + (data.satisfaction.average === null ? "—" : data.satisfaction.average) + " 分）",
      "评分", "次数", false);
    satOptions.scales.y.ticks = { precision: 0 };
    draw("chart-satisfaction", {
      type: "bar",
      data: {
        labels: scores.map((s) => s + " 分"),
        datasets: [{
          label: "回访次数",
          data: scores.map((s) => data.satisfaction.distribution[s] || 0),
          backgroundColor: BLUE,
        }],
      },
      options: satOptions,
    });

    root.classList.add("charts-ready");
  }

  fetch(root.dataset.source, { headers: { Accept: "application/json" }, credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) {
        throw new Error("data.json: HTTP " + response.status);
      }
      return response.json();
    })
    .then(render)
    .catch((error) => {
      root.classList.add("charts-failed");
      const note = document.createElement("p");
      note.className = "flash flash-warning";
      note.textContent = "图表加载失败，请以表格数据为准（" + error.message + "）";
      root.prepend(note);
    });
})();
