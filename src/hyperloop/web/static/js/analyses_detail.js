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
    // workflows of a pull request: the choice lists that pull request's workflows instead
    const source = create.elements.source;
    const workflow = create.elements.workflow;
    const released = Array.from(workflow.options).map((o) => o.cloneNode(true));
    if (source) {
      source.addEventListener("change", () => {
        const chosen = source.selectedOptions[0];
        if (!source.value) {
          workflow.replaceChildren(...released.map((o) => o.cloneNode(true)));
          return;
        }
        workflow.replaceChildren(
          ...JSON.parse(chosen.dataset.workflows).map((name) => new Option(name, name))
        );
      });
    }
    create.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        analysis_id: Number(create.dataset.analysisId),
        name: create.elements.name.value.trim(),
        workflow: workflow.value,
      };
      if (source && source.value) body.pull_request_id = Number(source.value);
      const response = await window.hyperloop.post("/api/wagons", body);
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
