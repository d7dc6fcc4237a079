// Compare train runs: draw the chosen histogram from both final outputs side by side (JSROOT).
import { openFile } from "/static/vendor/jsroot/modules/io.mjs";
import { draw, cleanup } from "/static/vendor/jsroot/modules/draw.mjs";

const box = document.getElementById("compare-outputs");
const statusLine = document.getElementById("compare-status");
const files = { a: null, b: null };

function drawOption(obj) {
  const t = obj._typename || "";
  if (/^TH2|^TProfile2D/.test(t)) return "colz";
  if (/^TH3/.test(t)) return "box2";
  return "hist";
}

async function drawOne(side, path) {
  const url = side === "a" ? box.dataset.aUrl : box.dataset.bUrl;
  if (!files[side]) files[side] = openFile(url);
  const file = await files[side];
  const target = document.getElementById(`draw-${side}`);
  cleanup(target);
  target.removeAttribute("data-drawn");
  let obj = null;
  try {
    obj = await file.readObject(path);
  } catch (e) {
    obj = null;
  }
  if (!obj) {
    target.textContent = "(not in this output)";
    return false;
  }
  target.textContent = "";
  await draw(target, obj, drawOption(obj));
  target.dataset.drawn = path;
  return true;
}

box.addEventListener("click", async (event) => {
  const button = event.target.closest("button.draw-pair");
  if (!button) return;
  for (const b of box.querySelectorAll("button.draw-pair[aria-pressed]")) b.removeAttribute("aria-pressed");
  button.setAttribute("aria-pressed", "true");
  const path = button.dataset.hist;
  statusLine.textContent = `Reading ${path} ...`;
  try {
    await Promise.all([drawOne("a", path), drawOne("b", path)]);
    statusLine.textContent = `${path}: ${button.dataset.verdict.replace("_", " ")}.`;
  } catch (err) {
    statusLine.textContent = `Cannot draw ${path}: ${err.message || err}`;
  }
});
const first = box.querySelector('button.draw-pair[data-verdict="different"]') || box.querySelector("button.draw-pair");
if (first) first.click();
