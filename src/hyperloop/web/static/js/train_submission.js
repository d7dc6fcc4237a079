// Train submission (operators): select wagons, refresh compatibility marks through
// POST /api/train-runs/compatibility, and compose with POST /api/train-runs.
(function () {
  "use strict";
  const table = document.getElementById("submission-wagons");
  const form = document.getElementById("compose-form");
  if (!table || !form) return;
  const datasetId = Number(table.dataset.datasetId);
  const composeButton = document.getElementById("compose-button");
  const selectionLine = document.getElementById("compose-selection");
  const errorLine = document.getElementById("compose-error");
  const initial = new Map();
  for (const row of table.querySelectorAll("tr[data-wagon-id]")) {
    initial.set(row.dataset.wagonId, row.querySelector("td.compat").innerHTML);
  }

  function picks() {
    return [...table.querySelectorAll("input.wagon-pick:checked")].map((b) => Number(b.value));
  }

  function mark(row, compatible, reasons) {
    const cell = row.querySelector("td.compat");
    const box = row.querySelector("input.wagon-pick");
    row.dataset.compatible = compatible ? "true" : "false";
    if (compatible) {
      cell.innerHTML = '<span role="img" aria-label="compatible">✅</span>';
    } else {
      cell.innerHTML = '<span role="img" aria-label="not compatible">❌</span> <span class="reasons"></span>';
      cell.querySelector(".reasons").textContent = reasons.join("; ");
    }
    if (box && !box.checked) box.disabled = !compatible;
  }

  async function refresh() {
    const ids = picks();
    errorLine.textContent = "";
    composeButton.disabled = ids.length === 0;
    selectionLine.textContent = ids.length
      ? `${ids.length} wagon${ids.length === 1 ? "" : "s"} selected.`
      : "No wagon selected.";
    if (ids.length === 0) {
      for (const row of table.querySelectorAll("tr[data-wagon-id]")) {
        row.querySelector("td.compat").innerHTML = initial.get(row.dataset.wagonId);
        const ok = !row.querySelector("td.compat").textContent.includes("❌");
        row.dataset.compatible = ok ? "true" : "false";
        const box = row.querySelector("input.wagon-pick");
        if (box) box.disabled = !ok;
      }
      return;
    }
    const response = await window.hyperloop.post("/api/train-runs/compatibility", {
      dataset_id: datasetId,
      wagon_ids: ids,
    });
    const body = await response.json();
    if (!response.ok) {
      errorLine.textContent = body.message || response.statusText;
      return;
    }
    const byId = new Map(body.candidates.map((c) => [String(c.wagon_id), c]));
    for (const row of table.querySelectorAll("tr[data-wagon-id]")) {
      const c = byId.get(row.dataset.wagonId);
      if (c) mark(row, c.compatible, c.reasons);
    }
    selectionLine.textContent += body.tag_id ? ` Package tag ${body.tag_id}.` : " No common package tag.";
  }

  table.addEventListener("change", (event) => {
    if (event.target.closest("input.wagon-pick")) refresh();
  });
  document.getElementById("select-compatible").addEventListener("click", () => {
    for (const row of table.querySelectorAll('tr[data-compatible="true"]')) {
      const box = row.querySelector("input.wagon-pick");
      if (box && !box.disabled) box.checked = true;
    }
    refresh();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const ids = picks();
    if (!ids.length) return;
    composeButton.disabled = true;
    const response = await window.hyperloop.post("/api/train-runs", {
      dataset_id: datasetId,
      wagon_ids: ids,
      target_id: Number(form.elements.target_id.value),
      train_type: form.elements.train_type.value,
      slow: form.elements.slow.checked,
      auto_submit: form.elements.auto_submit.checked,
    });
    const body = await response.json().catch(() => ({}));
    if (response.ok) {
      window.location.href = `/train-run/${body.id}`;
      return;
    }
    errorLine.textContent = body.message || response.statusText;
    composeButton.disabled = false;
  });
})();
