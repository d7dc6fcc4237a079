// Dashboard graphs (uPlot): jobs and CPU per day, jobs per site (top 10), top analyses by CPU.
// Drag to zoom, double-click to reset (uPlot defaults), live legend shows hovered values.
// Each graph's y axis is labelled by its element's data-y-label (set in dashboard.html).
(function () {
  "use strict";
  const node = document.getElementById("dashboard-data");
  if (!node || typeof uPlot === "undefined") return;
  const data = JSON.parse(node.textContent);
  const s = data.series;
  const plots = [];
  // distinct from the done (green) / failed (red) pair of the jobs graph
  const PALETTE = ["#1f5fbf", "#e07b00", "#7b3fb5", "#0f8b8d", "#b5316b", "#6b7f1a", "#8c5a2b", "#3b6e8f", "#c2a200", "#555555"];
  const colours = (i) => PALETTE[i % PALETTE.length];
  const fmt = (v) => (v == null ? "–" : v.toLocaleString(undefined, { maximumFractionDigits: 2 }));
  const dayLabel = (u, v) => (v == null ? "–" : new Date(v * 1000).toISOString().slice(0, 10));

  function width(el) {
    return Math.max(el.clientWidth - 8, 280);
  }

  function timeChart(id, series, bars) {
    const el = document.getElementById(id);
    if (!el) return;
    if (!s.days.length || !series.length) {
      el.textContent = "No data in this interval.";
      return;
    }
    const opts = {
      width: width(el),
      height: 240,
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      axes: [{}, { label: el.dataset.yLabel, size: 60, values: (u, vals) => vals.map(fmt) }],
      series: [
        { label: "day", value: dayLabel },
        ...series.map((x, i) => ({
          label: x.label,
          stroke: x.colour || colours(i),
          fill: bars ? undefined : undefined,
          width: 2,
          points: { show: true, size: 5 },
          value: (u, v) => fmt(v),
        })),
      ],
    };
    const plot = new uPlot(opts, [s.days, ...series.map((x) => x.values)], el);
    el.uplot = plot;
    plots.push([el, plot, 240]);
  }

  timeChart("g-jobs", [
    { label: "done", values: s.jobs_done, colour: "#1a7f37" },
    { label: "failed", values: s.jobs_failed, colour: "#c62828" },
  ]);
  timeChart("g-cpu", [{ label: "CPU hours", values: s.cpu_hours, colour: "#1f5fbf" }]);
  timeChart(
    "g-sites",
    Object.entries(s.sites).map(([site, values]) => ({ label: site, values }))
  );

  const topEl = document.getElementById("g-top");
  if (topEl) {
    const top = data.top;
    if (!top.length) {
      topEl.textContent = "No job finished in this interval.";
    } else {
      const xs = top.map((_, i) => i + 1);
      const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined;
      const plot = new uPlot(
        {
          width: width(topEl),
          height: 240,
          scales: { x: { time: false, range: [0.5, top.length + 0.5] } },
          cursor: { drag: { x: true, y: false } },
          axes: [
            { values: (u, vals) => vals.map((v) => (Number.isInteger(v) && top[v - 1] ? top[v - 1].name : "")), size: 50 },
            { label: topEl.dataset.yLabel, size: 60, values: (u, vals) => vals.map(fmt) },
          ],
          series: [
            { label: "analysis", value: (u, v) => (v && top[v - 1] ? top[v - 1].name : "–") },
            { label: "CPU hours", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.35)", paths: bars, points: { show: false }, value: (u, v) => fmt(v) },
          ],
        },
        [xs, top.map((a) => a.cpu_hours)],
        topEl
      );
      topEl.uplot = plot;
      plots.push([topEl, plot, 240]);
    }
  }

  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(() => plots.forEach(([el, p, h]) => p.setSize({ width: width(el), height: h })), 150);
  });
})();
