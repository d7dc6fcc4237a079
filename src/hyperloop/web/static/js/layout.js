// Layout behaviour shared by every page: CSRF header for htmx and fetch, user-menu actions.
(function () {
  "use strict";
  function csrfToken() {
    const name = document.body.dataset.csrfCookie || "hyperloop_csrf";
    const match = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
  }
  window.hyperloop = window.hyperloop || {};
  window.hyperloop.csrfToken = csrfToken;
  window.hyperloop.post = function (url, body, method) {
    return fetch(url, {
      method: method || "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  };
  document.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    if (button.dataset.action === "logout") {
      await window.hyperloop.post("/api/auth/logout");
      window.location.href = "/login";
    } else if (button.dataset.action === "back") {
      event.preventDefault();
      history.back();
    } else if (button.dataset.action === "stop-impersonating") {
      await window.hyperloop.post("/api/auth/impersonate", undefined, "DELETE");
      window.location.reload();
    }
  });
  document.addEventListener("submit", async (event) => {
    const form = event.target.closest(".impersonate-form");
    if (!form) return;
    event.preventDefault();
    const response = await window.hyperloop.post(form.dataset.api, {
      username: form.elements.username.value,
    });
    if (response.ok) window.location.reload();
    else alert((await response.json()).message || "impersonation refused");
  });
  // Escape closes an open user menu and returns focus to its summary.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const open = document.querySelector("details.user-menu[open]");
    if (open) {
      open.removeAttribute("open");
      open.querySelector("summary").focus();
    }
  });
})();
