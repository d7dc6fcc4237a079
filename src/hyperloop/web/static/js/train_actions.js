// Train and job pages: operator/analyzer action buttons (POST to the JSON API, the API's
// error message shown next to the buttons), the comment form, and copy-to-clipboard.
(function () {
  "use strict";
  async function errorMessage(response) {
    try {
      const body = await response.json();
      return body.message || response.statusText;
    } catch (e) {
      return `${response.status} ${response.statusText}`;
    }
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-train-action]");
    if (!button) return;
    const box = button.closest(".train-actions");
    const alertLine = box ? box.querySelector(".action-error") : null;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    if (alertLine) alertLine.textContent = "";
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      let body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
      // a choice sent with the action (the target of "Submit"): body[field] = chosen id
      const holder = button.closest(".action-choice");
      if (holder) {
        body = body || {};
        holder.querySelectorAll("select[data-field]").forEach((select) => {
          body[select.dataset.field] = Number(select.value);
        });
      }
      const response = await window.hyperloop.post(button.dataset.url, body, button.dataset.method);
      if (!response.ok) {
        if (alertLine) alertLine.textContent = await errorMessage(response);
        return;
      }
      const result = await response.json().catch(() => ({}));
      const action = button.dataset.trainAction;
      if ((action === "clone" || action === "long-train") && result.id) {
        window.location.href = `/train-run/${result.id}`;
      } else if (action === "final-merge" && result.id) {
        // the merging tab lists the merged and missing runs once the scheduler merged
        window.location.href = `/train-run/${result.id}?tab=merging`;
      } else {
        window.location.reload();
      }
    } catch (err) {
      if (alertLine) alertLine.textContent = String(err.message || err);
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  });

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.comment-form");
    if (!form) return;
    event.preventDefault();
    const alertLine = form.querySelector(".action-error");
    const response = await window.hyperloop.post(form.dataset.url, { text: form.elements.text.value });
    if (response.ok) window.location.reload();
    else alertLine.textContent = await errorMessage(response);
  });

  // The train run page's forms (Clone train, Request long train): named fields to JSON
  // (data-number: an id; checkboxes: booleans; data-list: the checked values as a list).
  function formBody(form) {
    const body = {};
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.dataset.list !== undefined) {
        body[el.name] = body[el.name] || [];
        if (el.checked) body[el.name].push(Number(el.value));
      } else if (el.type === "checkbox") {
        body[el.name] = el.checked;
      } else if (el.value !== "") {
        body[el.name] = el.dataset.number !== undefined ? Number(el.value) : el.value;
      }
    }
    return body;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.train-form");
    if (!form) return;
    event.preventDefault();
    const alertLine = form.querySelector(".action-error");
    const button = form.querySelector("button[type=submit]");
    alertLine.textContent = "";
    button.disabled = true;
    try {
      const response = await window.hyperloop.post(
        form.dataset.url,
        formBody(form),
        form.dataset.method,
      );
      if (!response.ok) {
        alertLine.textContent = await errorMessage(response);
        return;
      }
      const result = await response.json().catch(() => ({}));
      if (form.dataset.then === "train" && result.id) window.location.href = `/train-run/${result.id}`;
      else window.location.reload();
    } catch (err) {
      alertLine.textContent = String(err.message || err);
    } finally {
      button.disabled = false;
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent.trim());
      button.textContent = "Copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(source);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
  });
})();
