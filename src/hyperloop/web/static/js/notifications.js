// Notifications page: mark one or all as read through the JSON API, then update the row,
// the summary and the bell count of the layout (from GET /api/notifications/count).
(function () {
  "use strict";
  const alertSlot = () => document.querySelector(".page-head .form-error");

  async function fail(response) {
    let message = `refused (${response.status})`;
    try {
      message = (await response.json()).message || message;
    } catch (e) { /* not JSON */ }
    const slot = alertSlot();
    slot.textContent = message;
    slot.hidden = false;
  }

  async function refreshCount() {
    const response = await fetch("/api/notifications/count", { credentials: "same-origin" });
    if (!response.ok) return;
    const unread = (await response.json()).unread;
    const bell = document.querySelector("a.bell");
    if (bell) {
      bell.setAttribute("aria-label", `Notifications: ${unread} unread`);
      let badge = bell.querySelector(".badge");
      if (unread > 0) {
        if (!badge) {
          badge = document.createElement("span");
          badge.className = "badge";
          badge.setAttribute("aria-hidden", "true");
          bell.appendChild(badge);
        }
        badge.textContent = String(unread);
      } else if (badge) {
        badge.remove();
      }
    }
    const summary = document.getElementById("unread-summary");
    if (summary) summary.textContent = `${unread} unread.`;
    const all = document.getElementById("mark-all-read");
    if (all) all.disabled = unread === 0;
  }

  function markRow(item) {
    item.classList.remove("unread");
    item.classList.add("read");
    const mark = item.querySelector(".unread-mark");
    if (mark) mark.remove();
    const button = item.querySelector(".mark-read");
    if (button) {
      const label = document.createElement("span");
      label.className = "muted small read-label";
      label.textContent = "read";
      button.replaceWith(label);
    }
  }

  document.addEventListener("click", async (event) => {
    const one = event.target.closest("button.mark-read");
    const all = event.target.closest("#mark-all-read");
    if (!one && !all) return;
    alertSlot().hidden = true;
    if (one) {
      one.disabled = true;
      const response = await window.hyperloop.post(`/api/notifications/${one.dataset.id}/dismiss`);
      if (!response.ok) {
        one.disabled = false;
        return fail(response);
      }
      const item = one.closest("li.notification");
      const next = item.nextElementSibling && item.nextElementSibling.querySelector(".mark-read");
      markRow(item);
      (next || document.getElementById("mark-all-read")).focus();
    } else {
      all.disabled = true;
      const response = await window.hyperloop.post("/api/notifications/dismiss-all");
      if (!response.ok) {
        all.disabled = false;
        return fail(response);
      }
      document.querySelectorAll("li.notification.unread").forEach(markRow);
    }
    await refreshCount();
  });
})();
