// Derived data: "Expand all" / "Collapse all" open or close every group of the page.
(function () {
  "use strict";
  document.querySelectorAll("[data-action='expand-all'], [data-action='collapse-all']").forEach((button) => {
    button.addEventListener("click", () => {
      const open = button.dataset.action === "expand-all";
      document.querySelectorAll("details.derived-group").forEach((group) => {
        group.open = open;
      });
    });
  });
})();
