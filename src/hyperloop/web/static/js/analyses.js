// My Analyses: enable/disable wagons (tag-policy dialog), delete wagons, reorder (buttons or
// drag and drop of the title bar) and collapse analyses (saved per user through
// PUT /api/analyses/{id}/display). Actions use the JSON API.
(function () {
  "use strict";
  const list = document.getElementById("analyses-list");
  if (!list) return;
  const dialog = document.getElementById("enable-dialog");
  const form = document.getElementById("enable-form");
  const dialogError = document.getElementById("enable-error");
  let pendingCell = null;

  async function message(response) {
    try {
      const body = await response.json();
      return body.message || `${response.status} ${response.statusText}`;
    } catch (e) {
      return `${response.status} ${response.statusText}`;
    }
  }

  function showError(node, text) {
    if (!node) return;
    node.textContent = text;
    node.hidden = !text;
  }

  function refreshCell(cell) {
    const url = `/partials/analyses/cell/${cell.dataset.wagonId}/${cell.dataset.datasetId}`;
    return htmx.ajax("GET", url, { target: `#${cell.id}`, swap: "outerHTML" });
  }

  function syncPolicyFields() {
    const policy = form.elements.policy.value;
    form.querySelectorAll(".policy-extra").forEach((el) => {
      el.hidden = el.dataset.for !== policy;
    });
  }

  function openEnableDialog(cell) {
    pendingCell = cell;
    dialog.querySelector('[data-slot="wagon"]').textContent = cell.dataset.wagonName;
    dialog.querySelector('[data-slot="dataset"]').textContent = cell.dataset.datasetName;
    showError(dialogError, "");
    syncPolicyFields();
    dialog.showModal();
  }

  form.addEventListener("change", syncPolicyFields);
  // a registered pull request picked from the list fills the pull request field
  form.querySelectorAll("[data-pr]").forEach((button) =>
    button.addEventListener("click", () => {
      form.elements.pull_request.value = button.dataset.pr;
    })
  );
  dialog.querySelector('[data-action="close-dialog"]').addEventListener("click", () => dialog.close());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!pendingCell) return;
    const policy = form.elements.policy.value;
    const body = { policy };
    if (policy === "fixed") body.tag_id = Number(form.elements.tag_id.value);
    if (policy === "pull_request") body.pull_request = form.elements.pull_request.value.trim();
    const cell = pendingCell;
    const url = `/api/wagons/${cell.dataset.wagonId}/datasets/${cell.dataset.datasetId}`;
    const response = await window.hyperloop.post(url, body, "PUT");
    if (!response.ok) {
      showError(dialogError, await message(response));
      return;
    }
    dialog.close();
    pendingCell = null;
    showOverlaps(cell, await response.json().catch(() => ({})));
    await refreshCell(cell);
  });

  // overlap detection: wagons of other analyses doing the same on this dataset
  function showOverlaps(cell, answer) {
    const node = document.getElementById("overlap-notice");
    if (!node) return;
    const found = (answer && answer.overlaps) || [];
    node.replaceChildren();
    node.hidden = found.length === 0;
    if (!found.length) return;
    const head = document.createElement("p");
    head.textContent = `${cell.dataset.wagonName} on ${cell.dataset.datasetName}: overlap with other analyses`;
    const items = document.createElement("ul");
    for (const o of found) {
      const li = document.createElement("li");
      if (o.level === "warning") li.className = "error";
      li.textContent = o.message;
      items.append(li);
    }
    node.append(head, items);
  }

  async function disable(cell) {
    const url = `/api/wagons/${cell.dataset.wagonId}/datasets/${cell.dataset.datasetId}`;
    const response = await window.hyperloop.post(url, undefined, "DELETE");
    if (!response.ok) {
      showError(cell.querySelector(".cell-error"), await message(response));
      return;
    }
    await refreshCell(cell);
  }

  async function deleteWagon(button) {
    const name = button.dataset.wagonName;
    if (!window.confirm(`Delete wagon ${name}? Its history is kept.`)) return;
    const response = await window.hyperloop.post(`/api/wagons/${button.dataset.wagonId}`, undefined, "DELETE");
    const row = button.closest("tr");
    if (!response.ok) {
      showError(row.querySelector(".row-error"), await message(response));
      return;
    }
    row.remove();
  }

  function memberSections() {
    return Array.from(list.querySelectorAll('details.analysis[data-member="true"]'));
  }

  async function saveOrder() {
    const sections = memberSections();
    const results = await Promise.all(
      sections.map((el, index) =>
        window.hyperloop.post(`/api/analyses/${el.dataset.analysisId}/display`, { order: index }, "PUT")
      )
    );
    const failed = results.find((r) => !r.ok);
    showError(document.getElementById("layout-error"), failed ? await message(failed) : "");
  }

  async function move(section, direction) {
    const sections = memberSections();
    const i = sections.indexOf(section);
    const j = i + direction;
    if (j < 0 || j >= sections.length) return;
    if (direction < 0) sections[j].before(section);
    else sections[j].after(section);
    section.querySelector(`[data-action="${direction < 0 ? "move-up" : "move-down"}"]`).focus();
    await saveOrder();
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "toggle-enable") {
      const cell = button.closest(".cell");
      if (button.getAttribute("aria-pressed") === "true") disable(cell);
      else openEnableDialog(cell);
    } else if (action === "delete-wagon") {
      deleteWagon(button);
    } else if (action === "move-up" || action === "move-down") {
      event.preventDefault(); // inside <summary>: do not toggle the section
      move(button.closest("details.analysis"), action === "move-up" ? -1 : 1);
    }
  });

  // Drag and drop: a member analysis's title bar is draggable; dropping it on another member
  // analysis puts it before or after that one (by the pointer's half), then the order is saved.
  let dragged = null;
  list.querySelectorAll('details.analysis[data-member="true"] > summary').forEach((summary) => {
    summary.setAttribute("draggable", "true");
    summary.addEventListener("dragstart", (event) => {
      dragged = summary.parentElement;
      dragged.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.analysisId);
    });
    summary.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("dragging");
      list.querySelectorAll(".drop-before, .drop-after").forEach((el) => el.classList.remove("drop-before", "drop-after"));
      dragged = null;
    });
  });

  function dropTarget(event) {
    const section = event.target.closest('details.analysis[data-member="true"]');
    if (!dragged || !section || section === dragged) return null;
    const box = section.getBoundingClientRect();
    return { section, after: event.clientY > box.top + box.height / 2 };
  }

  list.addEventListener("dragover", (event) => {
    const target = dropTarget(event);
    if (!target) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    target.section.classList.toggle("drop-after", target.after);
    target.section.classList.toggle("drop-before", !target.after);
  });
  list.addEventListener("dragleave", (event) => {
    const section = event.target.closest("details.analysis");
    if (section && !section.contains(event.relatedTarget)) section.classList.remove("drop-before", "drop-after");
  });
  list.addEventListener("drop", async (event) => {
    const target = dropTarget(event);
    if (!target) return;
    event.preventDefault();
    target.section.classList.remove("drop-before", "drop-after");
    if (target.after) target.section.after(dragged);
    else target.section.before(dragged);
    await saveOrder();
  });

  // Collapsing/expanding a member analysis is saved for the user.
  list.querySelectorAll('details.analysis[data-member="true"]').forEach((section) => {
    section.addEventListener("toggle", async () => {
      const response = await window.hyperloop.post(
        `/api/analyses/${section.dataset.analysisId}/display`,
        { collapsed: !section.open },
        "PUT"
      );
      if (!response.ok) showError(document.getElementById("layout-error"), await message(response));
    });
  });
})();
