// Wagon edit page: tabs, configuration editor (base and subwagons, every configurable kind),
// settings, sync, derived data, clone/delete, confirming an upload, test statistics graphs.
// Every save goes through the JSON API with the version the page was loaded at; a 409 shows
// what somebody else changed meanwhile and keeps the user's edits in the form.
(function () {
  "use strict";
  const root = document.getElementById("wagon-editor");
  if (!root) return;
  const wagonId = root.dataset.wagonId;
  const version = Number(root.dataset.version);
  const api = `/api/wagons/${wagonId}`;

  // ------------------------------------------------------------------ helpers
  async function bodyOf(response) {
    try {
      return await response.json();
    } catch (e) {
      return { message: `${response.status} ${response.statusText}` };
    }
  }
  function show(node, text) {
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }
  function shown(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "object") return JSON.stringify(value.values !== undefined ? value.values : value);
    return String(value);
  }
  function showConflict(body) {
    const box = document.getElementById("conflict");
    box.querySelector('[data-slot="message"]').textContent = body.message;
    const rows = box.querySelector('[data-slot="changes"]');
    rows.replaceChildren();
    for (const c of (body.details && body.details.changes) || []) {
      const tr = document.createElement("tr");
      for (const [text, cls] of [[c.path, "mono"], [shown(c.old), "diff-old"], [shown(c.new), "diff-new"]]) {
        const td = document.createElement(cls === "mono" ? "th" : "td");
        td.className = cls;
        td.textContent = text;
        tr.append(td);
      }
      rows.append(tr);
    }
    if (!rows.children.length) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td colspan="3" class="muted">(the change list is not available)</td>';
      rows.append(tr);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "center" });
  }
  // Send a change; on success reload with a notice, on 409 show the conflict, else the error.
  async function send(url, body, method, errorNode, notice) {
    const response = await window.hyperloop.post(url, body, method);
    if (response.ok) {
      if (notice) sessionStorage.setItem("hyperloop-notice", notice);
      return response;
    }
    const data = await bodyOf(response);
    if (response.status === 409) showConflict(data);
    else show(errorNode || document.getElementById("editor-error"), data.message);
    return null;
  }
  function reloadAt(tab) {
    window.location.href = `/wagon/${wagonId}#${tab}`;
    window.location.reload();
  }
  const notice = sessionStorage.getItem("hyperloop-notice");
  if (notice) {
    sessionStorage.removeItem("hyperloop-notice");
    show(document.getElementById("save-notice"), notice);
  }

  // ------------------------------------------------------------------ tabs
  const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
  function selectTab(key, focus) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === key;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
      if (on && focus) tab.focus();
    }
    if (key === "tests") drawTests();
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => {
      selectTab(tab.dataset.tab);
      history.replaceState(null, "", `#${tab.dataset.tab}`);
    });
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      selectTab(tabs[(i + step + tabs.length) % tabs.length].dataset.tab, true);
    });
  });
  const hash = window.location.hash.replace("#", "").replace("panel-", "");
  const initial = hash === "clone" ? "settings" : hash;
  selectTab(tabs.some((t) => t.dataset.tab === initial) ? initial : "configuration");
  if (document.getElementById("upload-preview") || document.getElementById("upload-error")) {
    selectTab("configuration");
    (document.getElementById("upload-preview") || document.getElementById("upload-error")).scrollIntoView();
  }
  if (hash === "clone") document.getElementById("clone").scrollIntoView();
  window.addEventListener("hashchange", () => {
    const key = window.location.hash.replace("#", "").replace("panel-", "");
    if (tabs.some((t) => t.dataset.tab === key)) selectTab(key);
  });

  // ------------------------------------------------------------------ configuration values
  function inputs(node) {
    return Array.from(node.querySelectorAll(":scope > .item > input, :scope > input"));
  }
  function readValue(cfg) {
    const kind = cfg.dataset.kind;
    if (kind === "bool") return cfg.querySelector("select").value;
    if (kind === "int" || kind === "float" || kind === "string") return cfg.querySelector("input").value.trim();
    if (kind === "fixed-array" || kind === "variable-array") {
      return { values: inputs(cfg.querySelector(".array")).map((i) => i.value.trim()) };
    }
    if (kind === "matrix" || kind === "labelled-matrix") {
      const rows = Array.from(cfg.querySelectorAll("table.matrix tr"))
        .map((tr) => Array.from(tr.querySelectorAll("td input")).map((i) => i.value.trim()))
        .filter((r) => r.length);
      if (kind === "matrix") return { values: rows };
      return {
        labels_rows: JSON.parse(cfg.dataset.rows || "[]"),
        labels_cols: JSON.parse(cfg.dataset.cols || "[]"),
        values: rows,
      };
    }
    if (kind === "binning") {
      const how = cfg.querySelector(".binning-kind").value;
      if (how === "inherit") return "inherit";
      const part = cfg.querySelector(`[data-part="${how}"]`);
      const vals = inputs(part).map((i) => i.value.trim());
      return { values: how === "variable" ? ["0", ...vals] : vals };
    }
    try {
      return JSON.parse(cfg.querySelector("input").value);
    } catch (e) {
      return cfg.querySelector("input").value;
    }
  }
  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }
  function rowDirty(row) {
    const cfg = row.querySelector(".cfg");
    const override = row.querySelector(".override");
    const original = JSON.parse(cfg.dataset.original);
    if (override) {
      const was = row.classList.contains("overridden");
      if (override.checked !== was) return true;
      return override.checked && !same(readValue(cfg), original);
    }
    return !same(readValue(cfg), original);
  }
  function updateDirty(panel) {
    let n = 0;
    panel.querySelectorAll("[data-param-row]").forEach((row) => {
      const dirty = rowDirty(row);
      row.classList.toggle("dirty", dirty);
      if (dirty) n += 1;
    });
    const slot = panel.querySelector('[data-slot="dirty"]');
    if (slot) slot.textContent = n ? `${n} unsaved change${n === 1 ? "" : "s"}` : "No unsaved changes.";
    return n;
  }

  const editor = document.getElementById("panel-configuration");
  editor.addEventListener("input", (event) => {
    const panel = event.target.closest(".scope-panel");
    if (panel) updateDirty(panel);
  });
  editor.addEventListener("change", (event) => {
    const target = event.target;
    if (target.classList.contains("binning-kind")) {
      const cfg = target.closest(".cfg");
      cfg.querySelectorAll("[data-part]").forEach((p) => {
        p.hidden = p.dataset.part !== target.value;
      });
    }
    if (target.classList.contains("override")) {
      const row = target.closest("[data-param-row]");
      row.querySelectorAll(".cfg input, .cfg select, .cfg button").forEach((el) => {
        el.disabled = !target.checked;
      });
      row.classList.toggle("inherited", !target.checked);
    }
    const panel = target.closest(".scope-panel");
    if (panel) updateDirty(panel);
  });
  editor.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "add-item") {
      const array = button.closest(".array");
      const items = array.querySelectorAll(".item");
      const last = items[items.length - 1];
      const item = last ? last.cloneNode(true) : null;
      if (item) {
        const input = item.querySelector("input");
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(items.length + 1)));
        button.before(item);
        input.focus();
      }
    } else if (action === "remove-item") {
      const array = button.closest(".array");
      if (array.querySelectorAll(".item").length > 1) button.closest(".item").remove();
    } else if (action === "save-base") {
      saveBase(button.closest(".scope-panel"));
    } else if (action === "save-subwagon") {
      saveSubwagon(button.closest(".scope-panel"));
    } else if (action === "remove-subwagon") {
      removeSubwagon(button.closest(".scope-panel"));
    } else if (action === "add-subwagon") {
      addSubwagon();
    } else if (action === "confirm-upload") {
      confirmUpload(button);
    }
    const panel = button.closest(".scope-panel");
    if (panel) updateDirty(panel);
  });

  // scope buttons (base / subwagons)
  function selectScope(name) {
    editor.querySelectorAll("[data-scope-button]").forEach((b) => {
      b.setAttribute("aria-pressed", b.dataset.scopeButton === name ? "true" : "false");
    });
    editor.querySelectorAll(".scope-panel").forEach((p) => {
      p.hidden = p.dataset.scope !== name;
    });
  }
  editor.querySelectorAll("[data-scope-button]").forEach((b) => {
    b.addEventListener("click", () => selectScope(b.dataset.scopeButton));
  });

  function changedParams(panel, onlyOverrides) {
    const out = {};
    panel.querySelectorAll("[data-param-row]").forEach((row) => {
      const cfg = row.querySelector(".cfg");
      const override = row.querySelector(".override");
      if (onlyOverrides) {
        if (!override || !override.checked) return;
      } else if (!rowDirty(row)) {
        return;
      }
      (out[cfg.dataset.task] = out[cfg.dataset.task] || {})[cfg.dataset.param] = readValue(cfg);
    });
    return out;
  }

  async function saveBase(panel) {
    const changes = changedParams(panel, false);
    const n = Object.values(changes).reduce((k, t) => k + Object.keys(t).length, 0);
    if (!n) return show(document.getElementById("editor-error"), "Nothing to save: no value was changed.");
    const ok = await send(api, { expected_version: version, base_config: changes }, "PATCH", null,
      `Saved ${n} value${n === 1 ? "" : "s"} of the base configuration; enabled tests restart.`);
    if (ok) reloadAt("configuration");
  }
  async function saveSubwagon(panel) {
    const name = panel.dataset.scope;
    if (!/^[A-Za-z0-9_]+$/.test(name)) return show(document.getElementById("editor-error"), `invalid subwagon name ${name}`);
    const overrides = changedParams(panel, true);
    const ok = await send(`${api}/subwagons/${encodeURIComponent(name)}`, { expected_version: version, overrides }, "PUT",
      null, `Saved subwagon ${name}.`);
    if (ok) reloadAt("configuration");
  }
  async function removeSubwagon(panel) {
    const name = panel.dataset.scope;
    if (!window.confirm(`Remove subwagon ${name}?`)) return;
    const url = `${api}/subwagons/${encodeURIComponent(name)}?expected_version=${version}`;
    const ok = await send(url, undefined, "DELETE", null, `Removed subwagon ${name}.`);
    if (ok) reloadAt("configuration");
  }
  function addSubwagon() {
    const input = document.getElementById("new-subwagon");
    const name = input.value.trim();
    const error = document.getElementById("editor-error");
    if (!/^[A-Za-z0-9_]+$/.test(name)) return show(error, "A subwagon name uses letters, digits and _ only.");
    if (editor.querySelector(`.scope-panel[data-scope="${name}"]`)) return show(error, `Subwagon ${name} exists already.`);
    show(error, "");
    const template = editor.querySelector('.scope-panel[data-scope=""]');
    const panel = template.cloneNode(true);
    panel.dataset.scope = name;
    panel.querySelectorAll(".scope-name").forEach((el) => (el.textContent = name));
    panel.querySelectorAll("[aria-label]").forEach((el) => {
      el.setAttribute("aria-label", el.getAttribute("aria-label").replace("(new)", `(${name})`).replace("subwagon new", `subwagon ${name}`));
    });
    template.before(panel);
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.scopeButton = name;
    button.textContent = `Subwagon ${name} (new, unsaved)`;
    button.addEventListener("click", () => selectScope(name));
    editor.querySelector(".add-subwagon").before(button);
    input.value = "";
    selectScope(name);
  }

  async function confirmUpload(button) {
    const box = document.getElementById("upload-preview");
    const configuration = JSON.parse(box.dataset.upload);
    button.disabled = true;
    const ok = await send(`${api}/configuration`, { configuration, expected_version: version }, "PUT",
      document.getElementById("confirm-error"), "Saved the uploaded configuration.");
    if (ok) window.location.href = `/wagon/${wagonId}#configuration`;
    else button.disabled = false;
  }

  // ------------------------------------------------------------------ settings, sync, derived
  const settings = document.getElementById("settings-form");
  if (settings) {
    settings.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { expected_version: version };
      if (settings.elements.name.value.trim() !== root.dataset.wagonName) body.name = settings.elements.name.value.trim();
      body.workflow = settings.elements.workflow.value;
      body.dependencies = Array.from(settings.querySelectorAll('input[name="dependencies"]:checked')).map((c) => Number(c.value));
      const ok = await send(api, body, "PATCH", settings.querySelector('[role="alert"]'), "Saved the settings.");
      if (ok) reloadAt("settings");
    });
  }
  const sync = document.getElementById("sync-form");
  if (sync) {
    sync.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { expected_version: version, tag_id: Number(sync.elements.tag_id.value) };
      const response = await send(`${api}/sync`, body, "POST", sync.querySelector('[role="alert"]'));
      if (!response) return;
      const report = (await response.json()).report;
      const parts = [];
      for (const [key, text] of [["removed", "removed"], ["new_defaults", "new defaults"], ["added", "added"], ["reset_invalid", "reset (invalid)"], ["removed_tables", "tables removed"]]) {
        if (report[key] && report[key].length) parts.push(`${text}: ${report[key].join(", ")}`);
      }
      const text = report.disabled ? `Wagon disabled: ${report.disabled}` : `Synced. ${parts.join("; ") || "Nothing changed in the configuration."}`;
      sessionStorage.setItem("hyperloop-notice", text);
      reloadAt("settings");
    });
  }
  const derived = document.getElementById("derived-form");
  if (derived) {
    derived.addEventListener("submit", async (event) => {
      event.preventDefault();
      const alert = derived.querySelector('[role="alert"]');
      const body = {
        expected_version: version,
        derived_tables: Array.from(derived.querySelectorAll('input[name="derived_tables"]:checked')).map((c) => c.value),
        slim_ready: derived.elements.slim_ready.checked,
      };
      for (const [field, text] of [["max_df_size", "Max dataframe size"], ["max_derived_file_size", "Max derived file size"]]) {
        const raw = derived.elements[field].value.trim();
        if (raw === "") continue;
        if (!/^[0-9]+$/.test(raw)) {
          show(alert, `${text}: expected a whole number of bytes, got "${raw}"`);
          derived.elements[field].focus();
          return;
        }
        body[field] = Number(raw);
      }
      const ok = await send(api, body, "PATCH", derived.querySelector('[role="alert"]'), "Saved the derived-data settings.");
      if (ok) reloadAt("derived");
    });
  }
  const clone = document.getElementById("clone-form");
  if (clone) {
    clone.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { analysis_id: Number(clone.elements.analysis_id.value) };
      if (clone.elements.name.value.trim()) body.name = clone.elements.name.value.trim();
      const response = await send(`${api}/clone`, body, "POST", clone.querySelector('[role="alert"]'), "Cloned.");
      if (response) window.location.href = `/wagon/${(await response.json()).id}`;
    });
  }
  // ------------------------------------------------------------------ parameters added by hand
  const addParam = document.getElementById("add-parameter-form");
  if (addParam) {
    addParam.addEventListener("submit", async (event) => {
      event.preventDefault();
      const alert = addParam.querySelector('[role="alert"]');
      const text = addParam.elements.value.value.trim();
      let value = text;
      try {
        value = JSON.parse(text);
      } catch (e) {
        value = text; // not JSON: the text itself
      }
      const body = {
        expected_version: version,
        task: addParam.elements.task.value,
        name: addParam.elements.name.value.trim(),
        value,
      };
      const ok = await send(`${api}/parameters`, body, "POST", alert, `Added parameter ${body.task}.${body.name}; enabled tests restart.`);
      if (ok) reloadAt("configuration");
    });
  }
  root.querySelectorAll('[data-action="remove-parameter"]').forEach((button) =>
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      const task = row.dataset.addedTask;
      const name = row.dataset.addedName;
      if (!window.confirm(`Remove parameter ${task}.${name}?`)) return;
      const url = `${api}/parameters/${encodeURIComponent(task)}/${encodeURIComponent(name)}?expected_version=${version}`;
      const ok = await send(url, undefined, "DELETE", null, `Removed parameter ${task}.${name}.`);
      if (ok) reloadAt("configuration");
    })
  );
  root.querySelectorAll('[data-action="delete-wagon"]').forEach((button) =>
    button.addEventListener("click", async () => {
      if (!window.confirm(`Delete wagon ${root.dataset.wagonName}? Its history is kept.`)) return;
      const ok = await send(`${api}?expected_version=${version}`, undefined, "DELETE");
      if (ok) window.location.href = "/";
    })
  );
  root.querySelectorAll('[data-action="reload"]').forEach((button) =>
    button.addEventListener("click", () => window.location.reload())
  );

  // ------------------------------------------------------------------ test statistics graphs
  // Three uPlot graphs (PSS; CPU, wall and throughput; output size) of the dataset chosen in
  // the drop-down. Data from wagon_test_graphs(): axis values are the figures times the
  // axis factor; hover values are the labels formatted on the server (hyperloop.units).
  // (a hoisted function with its own flag: the tab selection at load calls it before the
  // code below runs)
  function drawTests() {
    const COLOURS = ["#1f5fbf", "#b26a00", "#1a7f37"];
    const node = document.getElementById("stats-data");
    const select = document.getElementById("stats-dataset");
    if (!node || !select || drawTests.done || typeof uPlot === "undefined") return;
    drawTests.done = true;
    const data = JSON.parse(node.textContent);
    const plots = {};

    function draw() {
      const ds = data.datasets.find((d) => String(d.id) === select.value);
      const points = ds ? ds.points : [];
      document.getElementById("stats-empty").hidden = points.length > 0;
      for (const graph of data.graphs) {
        const el = document.getElementById(`stats-graph-${graph.key}`);
        if (plots[graph.key]) {
          plots[graph.key].destroy();
          delete plots[graph.key];
        }
        el.replaceChildren();
        el.hidden = points.length === 0;
        el.previousElementSibling.hidden = points.length === 0;
        el.dataset.points = String(points.length);
        if (points.length === 0) continue;
        const x = points.map((p) => Date.parse(p.time) / 1000);
        const columns = graph.series.map((s) =>
          points.map((p) => (p[s.key] == null ? null : p[s.key] * graph.axes[s.axis].factor))
        );
        const scales = { x: { time: true } };
        graph.axes.forEach((a, i) => (scales[`y${i}`] = {}));
        const plot = new uPlot(
          {
            width: Math.max(el.clientWidth - 16, 300),
            height: 260,
            cursor: { drag: { x: true, y: false } },
            scales,
            axes: [
              {},
              ...graph.axes.map((a, i) => ({
                scale: `y${i}`,
                label: a.unit,
                size: 60,
                side: i === 0 ? 3 : 1,
                grid: { show: i === 0 },
              })),
            ],
            series: [
              { label: "time", value: (u, v, si, i) => (i == null || !points[i] ? "–" : `${points[i].time.replace("T", " ").slice(0, 19)} (#${points[i].test_id})`) },
              ...graph.series.map((s, j) => ({
                label: s.label,
                scale: `y${s.axis}`,
                stroke: COLOURS[j % COLOURS.length],
                width: 2,
                points: { show: true, size: 8 },
                value: (u, v, si, i) => (i == null || !points[i] ? "–" : points[i].labels[s.key]),
              })),
            ],
          },
          [x, ...columns],
          el
        );
        // one test: an hour either side of it (uPlot would span years)
        if (x.length === 1) plot.setScale("x", { min: x[0] - 3600, max: x[0] + 3600 });
        plot.over.addEventListener("click", () => {
          const i = plot.cursor.idx;
          if (i != null && points[i]) window.open(`/wagon-test/${points[i].test_id}`, "_blank");
        });
        el.uplot = plot;
        plots[graph.key] = plot;
      }
    }
    select.addEventListener("change", draw);
    draw();
  }
})();
