// Live partial results on a running train's outputs tab: ask the API every 5 s whether the
// scheduler merged newer partial results (jobs finished since), and say so with a reload
// link and the new fractions; stop once the train has its final output.
(() => {
  const box = document.getElementById("partial-results");
  if (!box) return;
  const shown = Number(box.dataset.updated);
  const label = document.getElementById("partial-label");
  const newer = document.getElementById("partial-newer");
  const timer = setInterval(async () => {
    try {
      const r = await fetch(`/api/train-runs/${box.dataset.trainId}/partial`, { credentials: "same-origin" });
      if (!r.ok) return;
      const body = await r.json();
      const p = body.partial;
      if (!p) { clearInterval(timer); newer.hidden = false; return; }
      if (Date.parse(p.updated_at) / 1000 > shown + 0.001) {
        label.textContent = p.label;
        newer.hidden = false;
      }
    } catch (e) { /* offline for a moment: the next try */ }
  }, 5000);
})();
