// The home page's resources card: what the user's servers get from their groups' policies, each
// value with the group it comes from (GET /hub/api/users/{user}/resources), and the storage
// their volumes use against their quota (GET /hub/api/users/{user}/storage): a warning from
// the warning share (90 %), and over the quota the volume reset offered.
(function () {
  "use strict";

  const card = document.getElementById("stellars-resources");
  if (!card) return;
  const { api, element, resourceRows } = window.stellars;
  const userPath = "/users/" + encodeURIComponent(card.dataset.user);

  // The bar's style and the note under it, by the usage's state (none, unknown, under,
  // warning, over).
  const BAR = { under: "bg-success", warning: "bg-warning", over: "bg-danger" };
  const NOTES = {
    warning: [
      "alert-warning",
      "Your volumes are close to your storage quota. Over it, your server will not start " +
        "again: delete files you do not need.",
    ],
    over: [
      "alert-danger",
      "Your volumes are over your storage quota: your server will not start again until you " +
        "free space. Stop your server and reset volumes with Manage volumes above (or " +
        "DELETE {reset}), or delete files from a running server.",
    ],
  };

  function showStorage(storage) {
    const block = document.getElementById("stellars-storage");
    block.dataset.state = storage.state;
    document.getElementById("stellars-storage-text").textContent = storage.text;
    const progress = document.getElementById("stellars-storage-progress");
    const bar = document.getElementById("stellars-storage-bar");
    const measured = storage.percent !== null && storage.quota_bytes !== null;
    progress.classList.toggle("d-none", !measured);
    if (measured) {
      const width = Math.min(100, storage.percent);
      progress.setAttribute("aria-valuenow", String(width));
      bar.style.width = width + "%";
      bar.className = "progress-bar " + (BAR[storage.state] || "");
    }
    const note = document.getElementById("stellars-storage-note");
    const said = NOTES[storage.state];
    note.className = "alert mt-2 mb-0 py-2 small" + (said ? " " + said[0] : " d-none");
    note.textContent = said ? said[1].replace("{reset}", storage.reset.url) : "";
    block.classList.remove("d-none");
  }

  async function load() {
    let got;
    try {
      got = await api("GET", userPath + "/resources");
    } catch (error) {
      return; // a token without the scope: no card
    }
    document.getElementById("stellars-resources-groups").textContent = got.groups.length
      ? "From your groups: " + got.groups.join(", ") + ". Changes apply at your next start."
      : "You are in no group: the platform's defaults apply.";
    document.querySelector("#stellars-resources-table tbody").replaceChildren(
      ...resourceRows(got).map(([what, value, from]) =>
        element(
          "tr",
          { "data-resource": what },
          element("th", { scope: "row", class: "fw-normal", text: what }),
          element("td", { class: "stellars-value", text: value }),
          element("td", { class: "text-body-secondary small", text: from }),
        ),
      ),
    );
    card.classList.remove("d-none");
    try {
      showStorage(await api("GET", userPath + "/storage"));
    } catch (error) {
      // not measured or not allowed: the card shows the quota alone
    }
  }

  load();
})();
