// The notifications page: compose (with a live character count), choose recipients among the
// running servers, send, and show the per-recipient report.
(function () {
  "use strict";

  const { api, element } = window.stellars;
  const root = document.getElementById("stellars-notifications");
  const maxLength = Number(root.dataset.maxLength);
  const message = document.getElementById("broadcast-message");
  const send = document.getElementById("broadcast-send");
  const STATUS_CLASS = { delivered: "text-bg-success", failed: "text-bg-danger", skipped: "text-bg-secondary" };

  function chosen() {
    return [...document.querySelectorAll("#recipients-servers input:checked")].map((box) => box.value);
  }

  function choosing() {
    return document.getElementById("recipients-chosen").checked;
  }

  function updateButton() {
    const count = chosen().length;
    send.textContent = !choosing()
      ? "Send to every running server"
      : count === 0
        ? "Select recipients"
        : "Send to " + count + " user(s)";
    send.disabled = message.value.trim().length === 0 || (choosing() && count === 0);
    document.getElementById("broadcast-count").textContent = String(message.value.trim().length);
  }

  async function loadServers() {
    const list = document.getElementById("recipients-servers");
    try {
      const answer = await api("GET", "/notifications/active-servers");
      const users = [...new Set(answer.servers.map((server) => server.username))];
      list.replaceChildren(
        ...(users.length
          ? users.map((name, index) =>
              element(
                "div",
                { class: "form-check" },
                element("input", { class: "form-check-input", type: "checkbox", id: "recipient-" + index, value: name, checked: true }),
                element("label", { class: "form-check-label", for: "recipient-" + index, text: name }),
              ),
            )
          : [element("span", { class: "text-body-secondary", text: "No server is running." })]),
      );
      for (const box of list.querySelectorAll("input")) box.addEventListener("change", updateButton);
    } catch (error) {
      list.replaceChildren(element("span", { class: "text-danger", text: "Could not list the running servers: " + error.message }));
    }
    updateButton();
  }

  function showReport(report) {
    const section = document.getElementById("broadcast-report");
    section.classList.remove("d-none");
    const summary = document.getElementById("broadcast-summary");
    const kind = report.total === 0 ? "info" : report.failed === 0 ? "success" : report.successful === 0 ? "danger" : "warning";
    summary.className = "alert alert-" + kind;
    summary.textContent = report.message;
    document.querySelector("#broadcast-details tbody").replaceChildren(
      ...report.details.map((detail) =>
        element(
          "tr",
          { "data-username": detail.username, "data-status": detail.outcome },
          element("td", { text: detail.username }),
          element("td", { text: detail.server === null ? "--" : detail.server || "(default)" }),
          element("td", {}, element("span", { class: "badge " + STATUS_CLASS[detail.outcome], text: detail.outcome })),
          element("td", { text: detail.error || "-" }),
        ),
      ),
    );
  }

  // Past broadcasts, newest first, from the audit feed; `older` appends the next page.
  let historyNext = null;
  let newestShown = null;

  function historyRow(entry) {
    const d = entry.details || {};
    const report =
      entry.outcome === "ok"
        ? (d.successful ?? 0) + " of " + (d.total ?? 0) + " delivered" + (d.failed ? ", " + d.failed + " failed" : "") +
          (d.skipped ? ", " + d.skipped + " skipped" : "")
        : entry.outcome + (entry.detail ? ": " + entry.detail : "");
    return element(
      "tr",
      { "data-id": entry.id, "data-outcome": entry.outcome },
      element("td", { text: entry.at.replace("T", " ").replace("Z", "").slice(0, 19) }),
      element("td", { text: entry.actor }),
      element("td", { text: d.message || "-" }),
      element("td", { text: report }),
    );
  }

  async function loadHistory(older) {
    const body = document.querySelector("#broadcast-history-entries tbody");
    const query = older && historyNext !== null ? "?before=" + historyNext : "";
    try {
      const page = await api("GET", "/notifications/history" + query);
      const rows = page.entries.map(historyRow);
      if (older) body.append(...rows);
      else {
        newestShown = page.entries.length ? page.entries[0].id : null;
        body.replaceChildren(
          ...(rows.length ? rows : [element("tr", {}, element("td", { colspan: 4, class: "text-body-secondary", text: "No broadcast yet." }))]),
        );
      }
      historyNext = page.next_before;
    } catch (error) {
      body.replaceChildren(element("tr", {}, element("td", { colspan: 4, class: "text-danger", text: "Could not list past broadcasts: " + error.message })));
      historyNext = null;
    }
    document.getElementById("broadcast-history-older").classList.toggle("d-none", historyNext === null);
  }

  // A broadcast is recorded once its answer is sent: look again until it shows (a few tries).
  async function refreshHistory() {
    const before = newestShown;
    for (let attempt = 0; attempt < 10; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await loadHistory(false);
      if (newestShown !== before) return;
    }
  }

  async function submit(event) {
    event.preventDefault();
    const box = document.getElementById("broadcast-error");
    box.classList.add("d-none");
    const text = message.value.trim();
    if (!text || text.length > maxLength) {
      box.textContent = "Write a message of 1 to " + maxLength + " characters.";
      box.classList.remove("d-none");
      return;
    }
    const body = {
      message: text,
      variant: document.getElementById("broadcast-variant").value,
      autoClose: document.getElementById("broadcast-autoclose").checked,
    };
    if (choosing()) body.recipients = chosen();
    send.disabled = true;
    try {
      showReport(await api("POST", "/notifications/broadcast", body));
      message.value = "";
      refreshHistory();
    } catch (error) {
      box.textContent = error.message;
      box.classList.remove("d-none");
    } finally {
      updateButton();
    }
  }

  message.addEventListener("input", updateButton);
  for (const radio of document.querySelectorAll("input[name=recipients]")) {
    radio.addEventListener("change", () => {
      document.getElementById("recipients-list").classList.toggle("d-none", !choosing());
      updateButton();
    });
  }
  document.getElementById("recipients-select-all").addEventListener("click", () => {
    for (const box of document.querySelectorAll("#recipients-servers input")) box.checked = true;
    updateButton();
  });
  document.getElementById("recipients-select-none").addEventListener("click", () => {
    for (const box of document.querySelectorAll("#recipients-servers input")) box.checked = false;
    updateButton();
  });
  document.getElementById("broadcast-form").addEventListener("submit", submit);
  document.getElementById("broadcast-history-older").addEventListener("click", () => loadHistory(true));
  loadServers();
  loadHistory(false);
})();
