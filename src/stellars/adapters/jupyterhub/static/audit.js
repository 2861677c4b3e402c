// The audit page: filters (user, action, dates), pages newest first (by time, then id) by the
// feed's cursor (`next_before`), a stack of the cursors seen so "Newer" goes back, and the CSV link of the
// same filters.
(function () {
  "use strict";

  const { api, base, element } = window.stellars;
  const PAGE_SIZE = 50;
  const OUTCOME_CLASS = { ok: "text-bg-success", refused: "text-bg-warning", failed: "text-bg-danger" };
  const form = document.getElementById("audit-filters");
  let cursors = [null]; // the cursor of each page shown so far; the last is the current one
  let next = null;

  function filters() {
    const found = new URLSearchParams();
    for (const name of ["user", "action", "since", "until"]) {
      const value = form.elements[name].value.trim();
      if (value) found.set(name, value);
    }
    return found;
  }

  function detailsText(entry) {
    const parts = [];
    if (entry.detail) parts.push(entry.detail);
    const details = Object.entries(entry.details || {});
    if (details.length) parts.push(details.map(([key, value]) => key + ": " + JSON.stringify(value)).join(", "));
    return parts.join(" | ") || "-";
  }

  function row(entry) {
    return element(
      "tr",
      { "data-id": entry.id, "data-at": entry.at, "data-action": entry.action, "data-outcome": entry.outcome },
      element("td", { text: entry.at.replace("T", " ").replace("Z", "").slice(0, 19) }),
      element("td", { text: entry.actor }),
      element("td", { text: entry.action }),
      element("td", { text: entry.target || "-" }),
      element("td", { text: entry.subject || "-" }),
      element("td", { text: entry.address || "-" }),
      element("td", {}, element("span", { class: "badge " + OUTCOME_CLASS[entry.outcome], text: entry.outcome })),
      element("td", { class: "small", text: detailsText(entry) }),
    );
  }

  async function show() {
    const box = document.getElementById("audit-error");
    box.classList.add("d-none");
    const query = filters();
    document.getElementById("audit-csv").href = base + "api/audit.csv?" + query.toString();
    const cursor = cursors[cursors.length - 1];
    if (cursor !== null) query.set("before", String(cursor));
    query.set("limit", String(PAGE_SIZE));
    const body = document.querySelector("#audit-entries tbody");
    try {
      const page = await api("GET", "/audit?" + query.toString());
      next = page.next_before;
      body.replaceChildren(
        ...(page.entries.length
          ? page.entries.map(row)
          : [element("tr", {}, element("td", { colspan: 8, class: "text-body-secondary", text: "No entries." }))]),
      );
    } catch (error) {
      next = null;
      body.replaceChildren();
      box.textContent = error.message;
      box.classList.remove("d-none");
    }
    document.getElementById("audit-older").disabled = next === null;
    document.getElementById("audit-newer").disabled = cursors.length === 1;
    document.getElementById("audit-page-number").textContent = "page " + cursors.length;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    cursors = [null];
    show();
  });
  document.getElementById("audit-older").addEventListener("click", () => {
    if (next === null) return;
    cursors.push(next);
    show();
  });
  document.getElementById("audit-newer").addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    show();
  });
  show();
})();
