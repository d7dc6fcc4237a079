// Train runs list: tick two train runs to compare them (the button opens /train-runs/compare).
(function () {
  "use strict";
  const form = document.getElementById("compare-form");
  if (!form) return;
  const button = document.getElementById("compare-button");
  const hint = document.getElementById("compare-hint");
  const picked = [];
  function update() {
    document.getElementById("compare-a").value = picked[0] || "";
    document.getElementById("compare-b").value = picked[1] || "";
    button.disabled = picked.length !== 2;
    hint.textContent =
      picked.length === 0
        ? "Tick two train runs to compare them."
        : picked.length === 1
          ? `Train run ${picked[0]} selected; tick one more.`
          : `Compare train runs ${picked[0]} and ${picked[1]}.`;
  }
  document.addEventListener("change", (event) => {
    const box = event.target.closest("input.compare-pick");
    if (!box) return;
    const idx = picked.indexOf(box.value);
    if (box.checked && idx < 0) {
      picked.push(box.value);
      if (picked.length > 2) {
        const dropped = picked.shift();
        const other = document.querySelector(`input.compare-pick[value="${dropped}"]`);
        if (other) other.checked = false;
      }
    } else if (!box.checked && idx >= 0) {
      picked.splice(idx, 1);
    }
    update();
  });
  update();
})();
