// Performance graphs: one uPlot chart of the selected metric for the selected devices.
// Data comes from the page (<script id="perf-data">), produced by performance_graphs_data().
(function () {
  "use strict";
  const dataNode = document.getElementById("perf-data");
  if (!dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const graph = document.getElementById("perf-graph");
  const select = document.getElementById("metric-select");
  const list = document.getElementById("device-list");
  let plot = null;
  let shown = new Set();

  // Stable, distinct colours per device (golden-angle hues).
  const allDevices = data.devices.map((d) => d.device);
  const colour = {};
  allDevices.forEach((name, i) => {
    colour[name] = `hsl(${Math.round((i * 137.508) % 360)}, 65%, 42%)`;
  });

  function metricInfo(name) {
    return data.metrics.find((m) => m.name === name);
  }

  function topDevices(metric) {
    return metricInfo(metric).ranking.slice(0, data.top_n);
  }

  function formatValue(v) {
    if (v == null) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.01 || a >= 1e6)) return v.toExponential(3);
    return v.toLocaleString(undefined, { maximumFractionDigits: 3 });
  }

  function renderList(metric) {
    list.replaceChildren();
    for (const name of metricInfo(metric).ranking) {
      const li = document.createElement("li");
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = name;
      box.checked = shown.has(name);
      box.addEventListener("change", () => {
        if (box.checked) shown.add(name);
        else shown.delete(name);
        draw();
      });
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colour[name] || "#888";
      swatch.setAttribute("aria-hidden", "true");
      const text = document.createElement("span");
      text.className = "mono";
      text.textContent = name;
      label.append(box, swatch, text);
      li.append(label);
      list.append(li);
    }
  }

  function draw() {
    const metric = select.value;
    const info = metricInfo(metric);
    const perDevice = data.series[metric];
    const names = info.ranking.filter((n) => shown.has(n));
    if (plot) {
      plot.destroy();
      plot = null;
    }
    graph.replaceChildren();
    if (names.length === 0) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = "No device selected.";
      graph.append(p);
      return;
    }
    const tables = names.map((n) => [perDevice[n].t, perDevice[n].v]);
    const aligned = uPlot.join(tables);
    const unit = info.unit ? ` [${info.unit}]` : "";
    const opts = {
      width: Math.max(graph.clientWidth - 16, 300),
      height: 400,
      title: `${metric}${unit}`,
      scales: { x: { time: false } },
      axes: [
        { label: "time since start [s]" },
        { label: `${metric}${unit}`, size: 70, values: (u, vals) => vals.map(formatValue) },
      ],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      series: [
        { label: "t [s]", value: (u, v) => (v == null ? "–" : v.toFixed(1)) },
        ...names.map((n) => ({
          label: n,
          stroke: colour[n] || "#888",
          width: 1.5,
          spanGaps: true,
          points: { show: false },
          value: (u, v) => formatValue(v),
        })),
      ],
    };
    plot = new uPlot(opts, aligned, graph);
    graph.uplot = plot; // scripts and tests read the zoom state (plot.scales.x)
    graph.dataset.devices = String(names.length);
  }

  function showTop() {
    shown = new Set(topDevices(select.value));
    renderList(select.value);
    draw();
  }

  select.addEventListener("change", showTop);
  document.getElementById("show-top").addEventListener("click", showTop);
  document.getElementById("show-all").addEventListener("click", () => {
    shown = new Set(metricInfo(select.value).ranking);
    renderList(select.value);
    draw();
  });
  document.getElementById("show-none").addEventListener("click", () => {
    shown = new Set();
    renderList(select.value);
    draw();
  });
  let resizeTimer = null;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (plot) plot.setSize({ width: Math.max(graph.clientWidth - 16, 300), height: 400 });
    }, 100);
  }).observe(graph);
  showTop();
})();
