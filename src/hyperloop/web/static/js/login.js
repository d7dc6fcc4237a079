// The login form posts to the API and follows the `next` address (no inline script: the
// pages' Content-Security-Policy allows only the server's own script files).
"use strict";
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("login-error");
  error.hidden = true;
  const response = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ username: form.elements.username.value, password: form.elements.password.value }),
  });
  if (response.ok) {
    window.location.href = form.dataset.next || "/";
  } else {
    const body = await response.json().catch(() => ({}));
    error.textContent = body.message || `Login failed (${response.status})`;
    error.hidden = false;
    form.elements.password.select();
  }
});
