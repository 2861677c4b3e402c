// The home page's server card: restart a running server (the answer comes once JupyterLab
// serves again, so the reload lands in a working lab), reset volumes of a stopped one, and say
// why a stopped one stopped ("stopped: ran out of memory (limit 4 GiB)", "stopped: culled for
// idleness (idle since ...)", "stopped: stopped by the admin bob"), with the last lines of its
// log when it exited by itself.
// Requests go through window.stellars.api (JupyterHub's XSRF token; the hub's JSON message on
// errors).
(function () {
  "use strict";

  const card = document.getElementById("stellars-server");
  if (!card) return;
  const { api, bytes, element, say, hide, modal } = window.stellars;
  const userPath = "/users/" + encodeURIComponent(card.dataset.user);

  // JupyterHub's own Stop button stops the server without reloading; reload then, so the card
  // offers what fits a stopped server.
  const stockStop = document.getElementById("stop");
  if (stockStop && card.dataset.active === "true") {
    new MutationObserver(() => {
      if (stockStop.style.display === "none") window.location.reload();
    }).observe(stockStop, { attributes: true, attributeFilter: ["style"] });
  }

  // --- why it stopped ----------------------------------------------------------------------

  const lastStop = document.getElementById("stellars-last-stop");

  // What the user can do about each reason (none: the message says it all).
  const ADVICE = {
    out_of_memory:
      "Your work on disk is kept; what was only in memory is lost. Use less memory at once, " +
      "or ask an admin for a larger limit.",
    culled:
      "Servers left idle are stopped to free the machine for others; your files are kept. " +
      "Extend your session when you need it to run unattended.",
    max_age: "Servers are stopped after running this long; your files are kept.",
    exited: "Your files are kept. The last lines of its log may say why.",
    engine_lost:
      "The container of your server disappeared from the engine; your files in volumes are kept.",
  };

  async function showLastStop() {
    let answer;
    try {
      answer = await api("GET", userPath + "/last-stop");
    } catch (error) {
      return; // the card works without it; the API says why to whoever asks
    }
    const stop = answer.last_stop;
    if (!stop || answer.server_active) return;
    const advice = ADVICE[stop.reason];
    lastStop.replaceChildren(
      element("strong", { text: "Your server " + stop.message + "." }),
      element("div", {
        class: "small",
        text: new Date(stop.at).toLocaleString() + (advice ? " · " + advice : ""),
      })
    );
    if (stop.log_tail.length) {
      // The log is the container's own text: shown as text, never as markup; opened at its
      // end, the lines closest to the stop.
      const lines = element("pre", {
        class: "mb-0 mt-1 stellars-log-tail",
        text: stop.log_tail.join("\n"),
      });
      const log = element(
        "details",
        { class: "small mt-1", id: "stellars-last-stop-log" },
        element("summary", { text: "Last lines of its log (" + stop.log_tail.length + ")" }),
        lines
      );
      log.addEventListener("toggle", () => {
        lines.scrollTop = lines.scrollHeight;
      });
      lastStop.append(log);
    }
    lastStop.dataset.reason = stop.reason;
    if (stop.requested && stop.reason !== "culled" && stop.reason !== "max_age") {
      lastStop.classList.replace("alert-warning", "alert-secondary"); // somebody chose it
    }
    lastStop.classList.remove("d-none");
  }

  if (lastStop) showLastStop();

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
        const answer = await api("POST", userPath + "/restart-server");
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
      const box = element("input", {
        type: "checkbox",
        class: "form-check-input",
        id: "stellars-volume-" + volume.label,
        value: volume.label,
        "data-volume": volume.name,
      });
      box.addEventListener("change", () => {
        resetButton.disabled = chosen().length === 0;
      });
      // A volume an earlier user of this name left is not the user's: an admin deletes it.
      const state =
        volume.owned === false
          ? "left by an earlier user of this name: an admin deletes it"
          : volume.exists === false
            ? "not created yet"
            : volume.exists
              ? bytes(volume.size_bytes, "size not measured yet")
              : "";
      if (volume.owned === false) box.disabled = true;
      list.append(
        element(
          "div",
          { class: "form-check mb-2" },
          box,
          element(
            "label",
            { class: "form-check-label", for: box.id },
            element("strong", { text: volume.label }),
            element("code", { class: "ms-2", text: volume.name }),
            element("div", {
              class: "small text-body-secondary",
              text: "mounted at " + volume.mount_point + (state ? " · " + state : ""),
            })
          )
        )
      );
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
      render(await api("GET", userPath + "/manage-volumes"));
    } catch (error) {
      list.replaceChildren();
      say("stellars-volumes-message", "danger", error.message);
    }
  }

  if (manage) {
    manage.addEventListener("click", () => {
      hide("stellars-volumes-message");
      modal("stellars-volumes-dialog").show();
      load();
    });
    resetButton.addEventListener("click", async () => {
      const labels = chosen();
      if (labels.length === 0) return;
      resetButton.disabled = true;
      try {
        const answer = await api("DELETE", userPath + "/manage-volumes", { volumes: labels });
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
