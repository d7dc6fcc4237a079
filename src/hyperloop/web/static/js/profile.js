// Profile page: show a newly created API token once (it is never shown again) and list it.
(function () {
  "use strict";
  document.addEventListener("api:success", (event) => {
    const form = event.target;
    if (form.id !== "create-token") return;
    const token = event.detail;
    document.getElementById("new-token-name").textContent = `“${token.name}”`;
    document.getElementById("new-token-value").textContent = token.token;
    const box = document.getElementById("new-token");
    box.hidden = false;
    form.reset();
    const tbody = document.querySelector("#tokens tbody");
    const empty = tbody.querySelector(".no-tokens");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.dataset.tokenId = token.id;
    const cells = [token.name, token.prefix + "…", "just now", "–",
      token.expires_at ? token.expires_at.slice(0, 10) : "never", "valid", ""];
    cells.forEach((text, i) => {
      const cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) cell.scope = "row";
      cell.textContent = text;
      row.appendChild(cell);
    });
    tbody.prepend(row);
    document.getElementById("copy-token").focus();
  });
  document.addEventListener("click", async (event) => {
    if (!event.target.closest("#copy-token")) return;
    const value = document.getElementById("new-token-value").textContent;
    try {
      await navigator.clipboard.writeText(value);
      event.target.textContent = "Copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("new-token-value"));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      event.target.textContent = "Selected: press Ctrl+C";
    }
  });
})();
