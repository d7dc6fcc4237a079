// Analysis page: create a wagon (POST /api/wagons) and set the e-mail policy.
(function () {
  "use strict";
  async function message(response) {
    try {
      return (await response.json()).message || response.statusText;
    } catch (e) {
      return `${response.status} ${response.statusText}`;
    }
  }
  function fail(form, text) {
    const p = form.querySelector('[role="alert"]');
    p.textContent = text;
    p.hidden = !text;
  }
  const create = document.getElementById("create-wagon-form");
  if (create) {
    create.addEventListener("submit", async (event) => {
      event.preventDefault();
      const response = await window.hyperloop.post("/api/wagons", {
        analysis_id: Number(create.dataset.analysisId),
        name: create.elements.name.value.trim(),
        workflow: create.elements.workflow.value,
      });
      if (!response.ok) return fail(create, await message(response));
      const wagon = await response.json();
      window.location.href = `/wagon/${wagon.id}`;
    });
  }
  const policy = document.getElementById("email-policy-form");
  if (policy) {
    policy.addEventListener("submit", async (event) => {
      event.preventDefault();
      const url = `/api/analyses/${policy.dataset.analysisId}/email-policy`;
      const response = await window.hyperloop.post(url, { policy: policy.elements.policy.value }, "PUT");
      if (!response.ok) return fail(policy, await message(response));
      window.location.reload();
    });
  }
  const add = document.getElementById("add-dataset-form");
  if (add) {
    add.addEventListener("submit", async (event) => {
      event.preventDefault();
      const url = `/api/analyses/${add.dataset.analysisId}/datasets`;
      const response = await window.hyperloop.post(url, { dataset_id: Number(add.elements.dataset_id.value) });
      if (!response.ok) return fail(add, await message(response));
      window.location.reload();
    });
    document.querySelectorAll('[data-action="remove-dataset"]').forEach((button) =>
      button.addEventListener("click", async () => {
        const url = `/api/analyses/${add.dataset.analysisId}/datasets/${button.dataset.datasetId}`;
        const response = await window.hyperloop.post(url, undefined, "DELETE");
        if (!response.ok) return fail(add, await message(response));
        window.location.reload();
      })
    );
  }
})();
