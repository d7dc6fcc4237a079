// Forms and buttons of the dataset, runlist, profile and admin pages that talk to the JSON API.
//
// <form class="api-form" data-api="/api/..." data-method="PATCH" data-success="reload|redirect|event">
//   fields: name = JSON key; data-type = str (default) | int | float | bool | ints (run list) |
//   opt (text left out when empty) | strs (comma list) | lines (one per line) | date-end (a day -> its last second, UTC) |
//   int-set / str-set (checkbox groups);
//   data-path="key": the value fills {key} in data-api instead of the body.
//   Empty int/float fields are left out (the API keeps the value).
// <button data-api=... data-method=... data-body='{"json": 1}' data-confirm="..." data-success=...>
// A refused request shows the API's message in the next [role=alert] element; nothing typed is
// lost (the page is only reloaded on success).
(function () {
  "use strict";

  function tokens(text, sep) {
    return text.split(sep).map((t) => t.trim()).filter((t) => t.length > 0);
  }

  function numberOrRaw(t, parse) {
    const n = parse(t);
    // Non-numbers go to the API as they are, so its validation message names the bad value.
    return Number.isFinite(n) && String(n) === t.replace(/^\+/, "").replace(/\.0+$/, "") ? n : t;
  }

  function fieldValue(el) {
    const type = el.dataset.type || "str";
    const v = el.value;
    switch (type) {
      case "int":
        return v.trim() === "" ? undefined : numberOrRaw(v.trim(), (x) => parseInt(x, 10));
      case "float":
        return v.trim() === "" ? undefined : numberOrRaw(v.trim(), parseFloat);
      case "bool":
        return el.checked;
      case "ints":
        return tokens(v, /[\s,;]+/).map((t) => numberOrRaw(t, (x) => parseInt(x, 10)));
      case "strs":
        return tokens(v, ",");
      case "lines":
        return tokens(v, /\r?\n/);
      case "opt": // optional text: left out when empty
        return v === "" ? undefined : v;
      case "date-end": // a day, as the end of that day in UTC
        return v === "" ? undefined : `${v}T23:59:59Z`;
      default:
        return v;
    }
  }

  function formBody(form) {
    const body = {};
    let url = form.dataset.api;
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.tagName === "BUTTON") continue;
      const type = el.dataset.type || "str";
      if (type === "int-set" || type === "str-set") {
        if (!(el.name in body)) body[el.name] = [];
        if (el.checked) body[el.name].push(type === "int-set" ? parseInt(el.value, 10) : el.value);
        continue;
      }
      const value = fieldValue(el);
      if (el.dataset.path) {
        url = url.replace("{" + el.dataset.path + "}", encodeURIComponent(value));
        continue;
      }
      if (value !== undefined) body[el.name] = value;
    }
    return { url, body };
  }

  function alertFor(el) {
    if (el.tagName === "FORM") return el.querySelector(".form-error");
    let next = el.nextElementSibling;
    while (next && !next.classList.contains("form-error")) next = next.nextElementSibling;
    return next || el.parentElement.querySelector(".form-error");
  }

  async function errorText(response) {
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      return `The server answered ${response.status} ${response.statusText}.`;
    }
    let message = (data && data.message) || `refused (${response.status})`;
    message = message.replace(/^body\./, "");
    const problems = data && data.details && data.details.errors;
    if (problems && problems.length > 1) {
      message += " — also: " + problems.slice(1).map((p) =>
        `${p.location.filter((x) => x !== "body").join(".")}: ${p.message}`).join("; ");
    }
    if (response.status === 409) message += " Reload the page to see the current values.";
    return message;
  }

  function showError(el, message) {
    const slot = alertFor(el);
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
    } else {
      window.alert(message);
    }
  }

  function clearError(el) {
    const slot = alertFor(el);
    if (slot) {
      slot.textContent = "";
      slot.hidden = true;
    }
  }

  async function succeed(el, response) {
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (e) {
        data = null;
      }
    }
    const how = el.dataset.success || "reload";
    if (how === "redirect") {
      const target = (el.dataset.redirect || "/").replace("{id}", data && data.id);
      window.location.assign(target);
    } else if (how === "event") {
      el.dispatchEvent(new CustomEvent("api:success", { bubbles: true, detail: data }));
    } else {
      window.location.reload();
    }
  }

  async function send(el, url, method, body) {
    if (el.dataset.confirm && !window.confirm(el.dataset.confirm)) return;
    clearError(el);
    const controls = el.tagName === "FORM" ? el.querySelectorAll("button") : [el];
    controls.forEach((b) => (b.disabled = true));
    try {
      const response = await window.hyperloop.post(url, body, method);
      if (response.ok) await succeed(el, response);
      else showError(el, await errorText(response));
    } catch (e) {
      showError(el, "Could not reach the server: " + e.message);
    } finally {
      controls.forEach((b) => (b.disabled = false));
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form.api-form");
    if (!form) return;
    event.preventDefault();
    const { url, body } = formBody(form);
    send(form, url, form.dataset.method || "POST", body);
  });

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-api]");
    if (!button || button.form) return;
    event.preventDefault();
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    send(button, button.dataset.api, button.dataset.method || "POST", body);
  });

  window.hyperloop = window.hyperloop || {};
  window.hyperloop.apiForms = { formBody, errorText, showError, clearError };
})();
