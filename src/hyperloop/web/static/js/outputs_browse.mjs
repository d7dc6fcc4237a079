// Output browser: draw the selected histogram of a ROOT file with JSROOT.
// JSROOT reads the file from /outputs/file with HTTP range requests; THn histograms (which
// JSROOT cannot draw) are projected by /api/outputs/projection and drawn as TH1D/TH2D.
import { createHistogram } from "/static/vendor/jsroot/modules/core.mjs";
import { openFile } from "/static/vendor/jsroot/modules/io.mjs";
import { draw, cleanup } from "/static/vendor/jsroot/modules/draw.mjs";

const browser = document.getElementById("browser");
const target = document.getElementById("jsroot-drawing");
const statusLine = document.getElementById("drawing-status");
const nameLine = document.getElementById("drawing-name");
const projControls = document.getElementById("projection-controls");
const projX = document.getElementById("proj-x");
const projY = document.getElementById("proj-y");
let filePromise = null;
let current = null;

function rootFile() {
  if (!filePromise) filePromise = openFile(browser.dataset.fileUrl);
  return filePromise;
}

function drawOption(classname) {
  if (/^TH2|^TProfile2D/.test(classname)) return "colz";
  if (/^TH3/.test(classname)) return "box2";
  return "hist";
}

async function readObject(key, item) {
  const file = await rootFile();
  let obj = await file.readObject(key);
  for (const position of item ? item.split("/") : []) {
    obj = (obj.arr || [])[Number(position)]; // positions inside nested TLists
    if (!obj) throw new Error(`no item ${item} in list ${key}`);
  }
  return obj;
}

function setAxis(axis, spec) {
  axis.fTitle = spec.title || "";
  axis.fXmin = spec.low;
  axis.fXmax = spec.high;
  if (spec.edges) axis.fXbins = spec.edges;
  if (spec.labels) {
    // JSROOT looks labels up by bin number in fLabels (a THashList of TObjString).
    axis.fLabels = { _typename: "THashList", name: "", arr: [], opt: [] };
    spec.labels.forEach((label, i) =>
      axis.fLabels.arr.push({ _typename: "TObjString", fUniqueID: i + 1, fString: label })
    );
  }
}

async function projectedHistogram(link, axes) {
  const params = new URLSearchParams({ path: browser.dataset.path, hist: link.dataset.hist, axes: axes.join(",") });
  const response = await fetch(`/api/outputs/projection?${params}`, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  if (projX.options.length === 0) {
    body.all_axes.forEach((title, i) => {
      projX.add(new Option(`${i}: ${title}`, String(i)));
      projY.add(new Option(`${i}: ${title}`, String(i)));
    });
    projY.add(new Option("(none: 1D projection)", ""), 0);
    projX.value = String(axes[0]);
    projY.value = axes.length > 1 ? String(axes[1]) : "";
  }
  const [ax, ay] = body.axes;
  const h = createHistogram(ay ? "TH2D" : "TH1D", ax.nbins, ay ? ay.nbins : undefined);
  h.fName = link.dataset.hist.split("/").pop();
  h.fTitle = `${body.title} (projection on ${body.axes.map((a) => a.title || "axis").join(", ")})`;
  setAxis(h.fXaxis, ax);
  if (ay) setAxis(h.fYaxis, ay);
  const nx = ax.nbins + 2;
  let total = 0;
  body.values.forEach((row, i) => {
    if (ay) {
      row.forEach((v, j) => {
        h.fArray[i + 1 + nx * (j + 1)] = v;
        total += v;
      });
    } else {
      h.fArray[i + 1] = row;
      total += row;
    }
  });
  h.fEntries = body.entries;
  // No stored fTsumw*: JSROOT then computes the statistics box from the projected bins.
  h.fTitle += total ? "" : " (empty)";
  return h;
}

async function show(link) {
  current = link;
  for (const a of document.querySelectorAll("#hist-list a[aria-current]")) a.removeAttribute("aria-current");
  link.setAttribute("aria-current", "true");
  nameLine.textContent = link.dataset.hist;
  target.removeAttribute("data-drawn");
  statusLine.textContent = `Reading ${link.dataset.hist} ...`;
  const projected = link.dataset.class.startsWith("THn");
  projControls.hidden = !projected;
  try {
    let obj;
    let opt = drawOption(link.dataset.class);
    if (projected) {
      const axes = [Number(projX.value || 0)];
      if (projX.options.length === 0) axes.push(1);
      else if (projY.value !== "" && projY.value !== projX.value) axes.push(Number(projY.value));
      obj = await projectedHistogram(link, axes);
      opt = axes.length === 2 ? "colz" : "hist";
    } else {
      obj = await readObject(link.dataset.key, link.dataset.item);
    }
    if (current !== link) return; // another histogram was selected meanwhile
    cleanup(target);
    await draw(target, obj, opt);
    target.dataset.drawn = link.dataset.hist;
    statusLine.textContent = `${link.dataset.hist} (${link.dataset.class}) drawn. Zoom by dragging on an axis; double-click to unzoom; right-click for options.`;
  } catch (err) {
    statusLine.textContent = `Cannot draw ${link.dataset.hist}: ${err.message || err}`;
    statusLine.classList.add("error");
  }
}

document.getElementById("hist-list").addEventListener("click", (event) => {
  const link = event.target.closest("a[data-hist]");
  if (!link) return;
  event.preventDefault();
  const url = new URL(window.location.href);
  url.searchParams.set("hist", link.dataset.hist);
  history.replaceState(null, "", url);
  projX.replaceChildren();
  projY.replaceChildren();
  show(link);
});

for (const select of [projX, projY]) select.addEventListener("change", () => current && show(current));

document.getElementById("hist-filter").addEventListener("input", (event) => {
  const text = event.target.value.trim().toLowerCase();
  for (const li of document.querySelectorAll("#hist-list li[data-name]")) {
    li.hidden = text !== "" && !li.dataset.name.includes(text);
  }
});

const initial =
  document.querySelector("#hist-list a[aria-current]") || document.querySelector("#hist-list a[data-hist]");
if (initial) show(initial);
