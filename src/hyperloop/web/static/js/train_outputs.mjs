// Train run outputs tab: list the histograms of the final merged AnalysisResults.root
// (GET /api/outputs/browse) and draw the chosen one with JSROOT (HTTP range reads).
import { openFile } from "/static/vendor/jsroot/modules/io.mjs";
import { draw, cleanup } from "/static/vendor/jsroot/modules/draw.mjs";

const box = document.getElementById("train-outputs");
const list = document.getElementById("out-hist-list");
const target = document.getElementById("out-drawing");
const statusLine = document.getElementById("out-status");
const nameLine = document.getElementById("out-drawing-name");
let filePromise = null;
let current = null;

function drawOption(classname) {
  if (/^TH2|^TProfile2D/.test(classname)) return "colz";
  if (/^TH3/.test(classname)) return "box2";
  return "hist";
}

async function show(link) {
  current = link;
  for (const a of list.querySelectorAll("[aria-current]")) a.removeAttribute("aria-current");
  link.setAttribute("aria-current", "true");
  nameLine.textContent = link.dataset.hist;
  target.removeAttribute("data-drawn");
  statusLine.classList.remove("error");
  statusLine.textContent = `Reading ${link.dataset.hist} ...`;
  try {
    if (!filePromise) filePromise = openFile(box.dataset.fileUrl);
    const file = await filePromise;
    let obj = await file.readObject(link.dataset.key);
    for (const position of link.dataset.item ? link.dataset.item.split("/") : []) {
      obj = obj && (obj.arr || [])[Number(position)]; // positions inside nested TLists
    }
    if (!obj) throw new Error("not found in the file");
    if (current !== link) return;
    cleanup(target);
    await draw(target, obj, drawOption(link.dataset.class));
    target.dataset.drawn = link.dataset.hist;
    statusLine.textContent = `${link.dataset.hist} (${link.dataset.class}) drawn. Drag on an axis to zoom, double-click to unzoom.`;
  } catch (err) {
    statusLine.textContent = `Cannot draw ${link.dataset.hist}: ${err.message || err}`;
    statusLine.classList.add("error");
  }
}

async function load() {
  const params = new URLSearchParams({ path: box.dataset.path });
  const response = await fetch(`/api/outputs/browse?${params}`, { credentials: "same-origin" });
  const body = await response.json();
  list.replaceChildren();
  if (!response.ok) {
    list.innerHTML = '<li class="error"></li>';
    list.firstChild.textContent = body.message || response.statusText;
    return;
  }
  const groups = new Map();
  for (const h of body.histograms) {
    if (!groups.has(h.directory)) groups.set(h.directory, []);
    groups.get(h.directory).push(h);
  }
  for (const [dir, items] of groups) {
    const li = document.createElement("li");
    const name = document.createElement("div");
    name.className = "dirname mono";
    name.textContent = dir || "(top level)";
    const ul = document.createElement("ul");
    for (const h of items) {
      const item = document.createElement("li");
      item.dataset.name = h.id.toLowerCase();
      const a = document.createElement("a");
      if (h.projected) {
        a.href = `/outputs/browse?path=${encodeURIComponent(box.dataset.path)}&hist=${encodeURIComponent(h.id)}`;
        a.title = "THn: opens the projection in the output browser";
      } else {
        a.href = "#";
        Object.assign(a.dataset, { hist: h.id, key: h.key, item: h.item || "", class: h.classname });
      }
      a.textContent = h.name;
      const cls = document.createElement("span");
      cls.className = "cls";
      cls.textContent = h.classname;
      a.append(cls);
      item.append(a);
      ul.append(item);
    }
    li.append(name, ul);
    list.append(li);
  }
  const first = list.querySelector("a[data-hist]");
  if (first) show(first);
  else statusLine.textContent = "No drawable histogram in this file.";
}

list.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-hist]");
  if (!link) return;
  event.preventDefault();
  show(link);
});
document.getElementById("out-filter").addEventListener("input", (event) => {
  const text = event.target.value.trim().toLowerCase();
  for (const li of list.querySelectorAll("li[data-name]")) {
    li.hidden = text !== "" && !li.dataset.name.includes(text);
  }
});
load();
