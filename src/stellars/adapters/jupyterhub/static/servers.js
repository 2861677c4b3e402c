// The home page's server card: restart a running server (the answer comes once JupyterLab
// serves again, so the reload lands in a working lab) and reset volumes of a stopped one.
// Every request carries JupyterHub's XSRF token; errors show the hub's JSON message.
(function () {
  "use strict";

  const card = document.getElementById("stellars-server");
  if (!card) return;
  const base = (window.jhdata && window.jhdata.base_url) || "/hub/";
  const userPath = base + "api/users/" + encodeURIComponent(card.dataset.user);

  function xsrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    if (match) return decodeURIComponent(match[1]);
    return (window.jhdata && window.jhdata.xsrf_token) || "";
  }

  async function call(method, url, body) {
    const options = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-XSRFToken": xsrfToken() },
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok) {
      throw new Error((payload && payload.message) || response.statusText || "request failed");
    }
    return payload;
  }

  function bytes(size) {
    if (size === null || size === undefined) return "size not measured yet";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  function say(id, kind, text) {
    const box = document.getElementById(id);
    box.className = "alert alert-" + kind + " mt-3 mb-0 py-2";
    box.textContent = text;
  }

  function modal(id) {
    return window.bootstrap.Modal.getOrCreateInstance(document.getElementById(id));
  }

  // JupyterHub's own Stop button stops the server without reloading; reload then, so the card
  // offers what fits a stopped server.
  const stockStop = document.getElementById("stop");
  if (stockStop && card.dataset.active === "true") {
    new MutationObserver(() => {
      if (stockStop.style.display === "none") window.location.reload();
    }).observe(stockStop, { attributes: true, attributeFilter: ["style"] });
  }

  // --- restart -----------------------------------------------------------------------------

  const restart = document.getElementById("stellars-restart");
  if (restart) {
    restart.addEventListener("click", () => modal("stellars-restart-dialog").show());
    const confirm = document.getElementById("stellars-restart-confirm");
    confirm.addEventListener("click", async () => {
      confirm.disabled = true;
      confirm.textContent = "Restarting…";
      say("stellars-restart-message", "info", "Restarting; waiting for JupyterLab to answer…");
      try {
        const answer = await call("POST", userPath + "/restart-server");
        say("stellars-restart-message", "success", answer.message + " Reloading…");
        window.setTimeout(() => window.location.reload(), 800);
      } catch (error) {
        say("stellars-restart-message", "danger", error.message);
        confirm.disabled = false;
        confirm.textContent = "Restart";
      }
    });
  }

  // --- volumes -----------------------------------------------------------------------------

  const manage = document.getElementById("stellars-manage-volumes");
  const list = document.getElementById("stellars-volumes-list");
  const resetButton = document.getElementById("stellars-volumes-confirm");

  function chosen() {
    return Array.from(list.querySelectorAll("input[type=checkbox]:checked")).map((box) => box.value);
  }

  function render(answer) {
    list.replaceChildren();
    document.getElementById("stellars-volumes-measured").textContent = answer.measured_at
      ? "Sizes as measured at " + new Date(answer.measured_at).toLocaleString() + "."
      : "Sizes have not been measured yet.";
    for (const volume of answer.volumes) {
      const row = document.createElement("div");
      row.className = "form-check mb-2";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "form-check-input";
      box.id = "stellars-volume-" + volume.label;
      box.value = volume.label;
      box.dataset.volume = volume.name;
      box.addEventListener("change", () => {
        resetButton.disabled = chosen().length === 0;
      });
      const label = document.createElement("label");
      label.className = "form-check-label";
      label.htmlFor = box.id;
      const title = document.createElement("strong");
      title.textContent = volume.label;
      const name = document.createElement("code");
      name.className = "ms-2";
      name.textContent = volume.name;
      const detail = document.createElement("div");
      detail.className = "small text-body-secondary";
      const state =
        volume.exists === false ? "not created yet" : volume.exists ? bytes(volume.size_bytes) : "";
      detail.textContent = "mounted at " + volume.mount_point + (state ? " · " + state : "");
      label.append(title, name, detail);
      row.append(box, label);
      list.append(row);
    }
    resetButton.disabled = true;
  }

  // The sizes are measured in the background, so the list shows each outcome of the reset
  // itself rather than a measurement that may predate it.
  const OUTCOMES = {
    removed: "deleted; it starts empty at the next start",
    "not found": "did not exist",
    "in use": "in use by a container, not deleted",
  };

  function markResults(results) {
    for (const result of results) {
      const box = document.getElementById("stellars-volume-" + result.volume);
      if (!box) continue;
      box.checked = false;
      const detail = box.parentElement.querySelector(".small");
      detail.textContent = OUTCOMES[result.outcome] || result.outcome;
      detail.dataset.outcome = result.outcome;
    }
    resetButton.disabled = true;
  }

  async function load() {
    try {
      render(await call("GET", userPath + "/manage-volumes"));
    } catch (error) {
      list.replaceChildren();
      say("stellars-volumes-message", "danger", error.message);
    }
  }

  if (manage) {
    manage.addEventListener("click", () => {
      document.getElementById("stellars-volumes-message").className = "alert d-none";
      modal("stellars-volumes-dialog").show();
      load();
    });
    resetButton.addEventListener("click", async () => {
      const labels = chosen();
      if (labels.length === 0) return;
      resetButton.disabled = true;
      try {
        const answer = await call("DELETE", userPath + "/manage-volumes", { volumes: labels });
        const failed = answer.failed_volumes.length > 0;
        say("stellars-volumes-message", failed ? "warning" : "success", answer.message);
        markResults(answer.results);
      } catch (error) {
        say("stellars-volumes-message", "danger", error.message);
        resetButton.disabled = chosen().length === 0;
      }
    });
  }
})();
