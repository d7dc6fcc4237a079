// Guided tour of a page (body[data-tour-page]): a bar at the top of the page offers it
// ("Take the tour" / "Dismiss for good"); the tour highlights one part of the page after the
// other in a box with Next and Exit. "Don't show again" is remembered for the user
// (POST /api/tours/{page}/dismiss). Steps whose part is not on the page are skipped.
(function () {
  "use strict";
  const page = document.body.dataset.tourPage;
  const main = document.getElementById("main");
  if (!page || !main) return;
  let steps = [];
  let index = 0;
  let box = null;
  let highlighted = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text) node.textContent = text;
    return node;
  }

  async function dismiss() {
    const response = await window.hyperloop.post(`/api/tours/${page}/dismiss`);
    const offer = document.getElementById("tour-offer");
    if (response.ok) {
      if (offer) offer.remove();
      end();
    } else if (offer) {
      offer.querySelector(".tour-error").textContent = "Could not save your choice.";
    }
  }

  function unhighlight() {
    if (highlighted) highlighted.classList.remove("tour-highlight");
    highlighted = null;
  }

  function end() {
    unhighlight();
    if (box) box.remove();
    box = null;
  }

  function place(target) {
    const rect = target.getBoundingClientRect();
    const top = window.scrollY + rect.bottom + 8;
    const left = Math.max(8, Math.min(window.scrollX + rect.left, window.scrollX + window.innerWidth - 380));
    box.style.top = `${top}px`;
    box.style.left = `${left}px`;
  }

  function show(i) {
    unhighlight();
    index = i;
    const step = steps[i];
    const target = document.querySelector(step.selector);
    highlighted = target;
    target.classList.add("tour-highlight");
    target.scrollIntoView({ block: "center" });
    box.querySelector(".tour-count").textContent = `${i + 1} / ${steps.length}`;
    box.querySelector(".tour-title").textContent = step.title;
    box.querySelector(".tour-text").textContent = step.text;
    const next = box.querySelector('[data-tour="next"]');
    next.textContent = i + 1 < steps.length ? "Next" : "Done";
    place(target);
    next.focus();
  }

  function start() {
    end();
    if (!steps.length) return;
    box = el("div", { class: "tour-box", role: "dialog", "aria-label": "Guided tour", id: "tour-box" });
    box.append(
      el("p", { class: "tour-count muted small" }),
      el("h2", { class: "tour-title" }),
      el("p", { class: "tour-text" })
    );
    const actions = el("div", { class: "form-row" });
    actions.append(
      el("button", { type: "button", "data-tour": "next" }, "Next"),
      el("button", { type: "button", class: "secondary", "data-tour": "exit" }, "Exit"),
      el("button", { type: "button", class: "secondary", "data-tour": "dismiss" }, "Don't show again")
    );
    box.append(actions);
    box.addEventListener("click", (event) => {
      const action = event.target.dataset.tour;
      if (action === "next") {
        if (index + 1 < steps.length) show(index + 1);
        else end();
      } else if (action === "exit") end();
      else if (action === "dismiss") dismiss();
    });
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") end();
    });
    document.body.append(box);
    show(0);
  }

  async function load() {
    let tour;
    try {
      const response = await fetch(`/api/tours/${page}`, { credentials: "same-origin" });
      if (!response.ok) return;
      tour = await response.json();
    } catch (e) {
      return;
    }
    steps = tour.steps.filter((s) => document.querySelector(s.selector));
    if (!steps.length || tour.dismissed) return;
    const offer = el("div", { class: "tour-offer", id: "tour-offer", role: "region", "aria-label": "Guided tour" });
    offer.append(el("span", {}, "New here? A short guided tour shows this page's parts."));
    const take = el("button", { type: "button", "data-tour": "start" }, "Take the tour");
    // "Dismiss for good" (the tour box says "Don't show again"): a name without "show", which
    // pages' own buttons (Show, Show all) use
    const never = el("button", { type: "button", class: "secondary", "data-tour": "dismiss", title: "Don't show this tour again" }, "Dismiss for good");
    take.addEventListener("click", start);
    never.addEventListener("click", dismiss);
    offer.append(take, never, el("span", { class: "tour-error error", role: "alert" }));
    main.prepend(offer);
  }

  load();
})();
