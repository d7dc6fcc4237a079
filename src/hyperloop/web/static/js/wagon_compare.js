// Wagon compare and history pages: the compare page's tabs (Wagon settings, Configuration,
// Derived data); on the history page the Compare button is enabled once exactly two states
// are ticked ("Unselect all" is the form's reset button).
(function () {
  "use strict";
  const tabs = Array.from(document.querySelectorAll('[role="tablist"] [role="tab"]'));
  function select(key) {
    for (const tab of tabs) {
      const on = tab.dataset.tab === key;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    }
  }
  tabs.forEach((tab) => tab.addEventListener("click", () => select(tab.dataset.tab)));

  const form = document.getElementById("history-compare");
  if (!form) return;
  const button = form.querySelector('button[type="submit"]');
  const count = document.getElementById("history-chosen");
  function update() {
    const n = form.querySelectorAll('input[name="v"]:checked').length;
    button.disabled = n !== 2;
    count.textContent = `${n} of 2 chosen`;
  }
  form.addEventListener("change", update);
  form.addEventListener("reset", () => setTimeout(update, 0));
  update();
})();
