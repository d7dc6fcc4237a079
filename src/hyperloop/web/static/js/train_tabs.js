// Train run tabs switch in place: the tab's page is fetched, its panel replaces the current one
// and the address changes (back/forward work); no full reload. A tab that needs a script the
// current page has not loaded (the outputs browser) is opened as a normal page.
(function () {
  "use strict";
  const nav = document.querySelector("nav.tabs");
  if (!nav) return;

  function scripts(doc) {
    return Array.from(doc.querySelectorAll("head script[src]")).map((s) => s.getAttribute("src"));
  }

  async function show(url, push) {
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    } catch (e) {
      window.location.assign(url);
      return;
    }
    if (!response.ok) {
      window.location.assign(url);
      return;
    }
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const panel = doc.querySelector("section.tab-panel");
    const current = document.querySelector("section.tab-panel");
    const loaded = new Set(scripts(document));
    if (!panel || !current || scripts(doc).some((src) => !loaded.has(src))) {
      window.location.assign(url);
      return;
    }
    current.replaceWith(panel);
    const tab = new URL(url, window.location.href).searchParams.get("tab");
    nav.querySelectorAll("a[data-tab]").forEach((a) => {
      if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
    document.title = doc.title;
    if (push) window.history.pushState({ tab }, "", url);
    if (window.htmx) window.htmx.process(panel); // live parts of the new panel (job status)
  }

  nav.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-tab]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    show(link.href, true);
  });
  window.addEventListener("popstate", () => show(window.location.href, false));
})();
