// The admin page's additions to JupyterHub's React app:
// - after the app creates users (POST /hub/api/users), their generated passwords, collected
//   once from /hub/api/admin/credentials, in a dialog with copy and download, and what the admin
//   must know about them (a sign-up that waited under the name and was replaced);
// - every user's volumes with a reset, and the orphaned volumes with a delete.
// Requests go through window.stellars.api (JupyterHub's XSRF token; the hub's JSON message on
// errors); every user-supplied string goes into the page as text, never as HTML.
(function () {
  "use strict";

  const { base, api, bytes, element, say, hide, modal } = window.stellars;
  const apiRoot = base + "api/";
  const originalFetch = window.fetch.bind(window);

  // --- passwords of new users ----------------------------------------------------------------

  let shown = [];

  function credentialsText(credentials) {
    const title = "JupyterHub user credentials";
    const lines = [title, "=".repeat(title.length), ""];
    for (const entry of credentials) {
      lines.push("Username: " + entry.username, "Password: " + entry.password, "");
    }
    lines.push("Generated: " + new Date().toISOString());
    return lines.join("\n") + "\n";
  }

  async function copy(text) {
    try {
      await navigator.clipboard.writeText(text);
      say("stellars-credentials-message", "success", "Copied to the clipboard.");
    } catch (error) {
      say(
        "stellars-credentials-message",
        "warning",
        "The browser did not allow copying; select the text or download it instead."
      );
    }
  }

  function showCredentials(credentials) {
    shown = credentials;
    const body = document.querySelector("#stellars-credentials-table tbody");
    body.replaceChildren();
    for (const entry of credentials) {
      const button = element(
        "button",
        {
          type: "button",
          class: "btn btn-sm btn-outline-secondary",
          title: "Copy this user's name and password",
        },
        element("i", { class: "fa fa-clipboard" })
      );
      button.addEventListener("click", () =>
        copy("Username: " + entry.username + "\nPassword: " + entry.password + "\n")
      );
      body.append(
        element(
          "tr",
          { "data-user": entry.username, "data-replaced-sign-up": entry.replaced_sign_up },
          element(
            "td",
            {},
            entry.username,
            entry.replaced_sign_up
              ? element("i", {
                  class: "fa fa-exclamation-triangle text-warning ms-2",
                  title: "Replaced a sign-up that waited under this name",
                })
              : null
          ),
          element("td", {}, element("code", { class: "stellars-password", text: entry.password })),
          element("td", {}, button)
        )
      );
    }
    // A stranger may have signed up under a name the admin then created: say so, once.
    const notices = document.getElementById("stellars-credentials-notices");
    notices.replaceChildren(
      ...credentials
        .filter((entry) => entry.notice)
        .map((entry) => element("p", { class: "mb-1", text: entry.notice }))
    );
    notices.classList.toggle("d-none", notices.childElementCount === 0);
    hide("stellars-credentials-message");
    modal("stellars-credentials-dialog").show();
  }

  async function collect(usernames) {
    try {
      const answer = await api("POST", "/admin/credentials", { usernames: usernames });
      if (answer.credentials.length > 0) showCredentials(answer.credentials);
    } catch (error) {
      say("stellars-admin-volumes-message", "danger", "Passwords of new users: " + error.message);
    }
  }

  function createdUsers(input, init) {
    const method = ((init && init.method) || (input && input.method) || "GET").toUpperCase();
    if (method !== "POST") return false;
    // JupyterHub's app passes a URL object; others pass a string or a Request.
    const target = input instanceof Request ? input.url : String(input);
    const url = new URL(target, window.location.href);
    return url.pathname === apiRoot + "users" || /\/api\/users\/[^/]+$/.test(url.pathname);
  }

  // The React app creates users through fetch(); watch its answers for the new names.
  window.fetch = async function (input, init) {
    const response = await originalFetch(input, init);
    if (response.ok && createdUsers(input, init)) {
      response
        .clone()
        .json()
        .then((created) => {
          const users = Array.isArray(created) ? created : [created];
          const names = users.map((user) => user && user.name).filter(Boolean);
          if (names.length > 0) collect(names);
        })
        .catch(() => undefined);
    }
    return response;
  };

  document.getElementById("stellars-credentials-copy").addEventListener("click", () => {
    copy(credentialsText(shown));
  });
  document.getElementById("stellars-credentials-download").addEventListener("click", () => {
    const blob = new Blob([credentialsText(shown)], { type: "text/plain" });
    const link = element("a", {
      href: URL.createObjectURL(blob),
      download: "jupyterhub-credentials-" + new Date().toISOString().slice(0, 10) + ".txt",
    });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  });

  // --- volumes -------------------------------------------------------------------------------

  const usersBody = document.querySelector("#stellars-user-volumes tbody");
  const orphansBody = document.querySelector("#stellars-orphaned-volumes tbody");
  const deleteOrphans = document.getElementById("stellars-orphans-delete");
  const resetList = document.getElementById("stellars-admin-reset-list");
  const resetConfirm = document.getElementById("stellars-admin-reset-confirm");
  let resetUser = null;

  function chosenOrphans() {
    return Array.from(orphansBody.querySelectorAll("input:checked")).map((box) => box.value);
  }

  function volumeSummary(volume) {
    if (volume.exists === false) return volume.label + ": not created";
    if (volume.exists === null) return volume.label;
    return volume.label + ": " + bytes(volume.size_bytes);
  }

  function renderUsers(users) {
    usersBody.replaceChildren();
    for (const user of users) {
      const nothing = user.volumes.every((volume) => volume.exists === false);
      const button = element("button", {
        type: "button",
        class: "btn btn-sm btn-outline-danger",
        disabled: user.server_active || nothing,
        title: user.server_active
          ? "Stop the server first"
          : nothing
            ? "No volume to reset"
            : "Reset volumes of " + user.name,
        text: "Reset…",
      });
      button.addEventListener("click", () => openReset(user));
      const badges = user.volumes.map((volume) =>
        element("span", {
          class: "badge text-bg-secondary me-1",
          title: volume.name,
          text: volumeSummary(volume),
        })
      );
      usersBody.append(
        element(
          "tr",
          { "data-user": user.name },
          element("td", { text: user.name }),
          element("td", { text: user.server_active ? "running" : "stopped" }),
          element("td", {}, ...badges),
          element("td", {}, button)
        )
      );
    }
  }

  function renderOrphans(orphans) {
    orphansBody.replaceChildren();
    if (orphans.length === 0) {
      orphansBody.append(
        element(
          "tr",
          {},
          element("td", { colspan: 6, class: "text-body-secondary", text: "None." })
        )
      );
    }
    for (const orphan of orphans) {
      const box = element("input", {
        type: "checkbox",
        class: "form-check-input",
        value: orphan.name,
        "aria-label": "Select " + orphan.name,
      });
      box.addEventListener("change", () => {
        deleteOrphans.disabled = chosenOrphans().length === 0;
      });
      orphansBody.append(
        element(
          "tr",
          { "data-volume": orphan.name },
          element("td", {}, box),
          element("td", {}, element("code", { text: orphan.name })),
          element("td", { text: orphan.former_username || "?" }),
          element("td", { text: orphan.reason }),
          element("td", { text: bytes(orphan.size_bytes) }),
          element("td", {
            text: orphan.created_at ? new Date(orphan.created_at).toLocaleString() : "",
          })
        )
      );
    }
    deleteOrphans.disabled = true;
  }

  async function loadVolumes() {
    try {
      const answer = await api("GET", "/admin/volumes");
      document.getElementById("stellars-admin-volumes-measured").textContent = answer.measured_at
        ? "Sizes as measured at " + new Date(answer.measured_at).toLocaleString() + "."
        : "Sizes have not been measured yet.";
      renderUsers(answer.users);
      renderOrphans(answer.orphaned);
    } catch (error) {
      say("stellars-admin-volumes-message", "danger", error.message);
    }
  }

  function openReset(user) {
    resetUser = user.name;
    document.getElementById("stellars-admin-reset-title").textContent =
      "Reset volumes of " + user.name;
    resetList.replaceChildren();
    for (const volume of user.volumes) {
      const box = element("input", {
        type: "checkbox",
        class: "form-check-input",
        id: "stellars-admin-volume-" + volume.label,
        value: volume.label,
      });
      box.addEventListener("change", () => {
        resetConfirm.disabled = resetList.querySelectorAll("input:checked").length === 0;
      });
      resetList.append(
        element(
          "div",
          { class: "form-check mb-2" },
          box,
          element(
            "label",
            { class: "form-check-label", for: box.id },
            element("strong", { text: volume.label }),
            " ",
            element("code", { text: volume.name })
          )
        )
      );
    }
    resetConfirm.disabled = true;
    hide("stellars-admin-reset-message");
    modal("stellars-admin-reset-dialog").show();
  }

  resetConfirm.addEventListener("click", async () => {
    const labels = Array.from(resetList.querySelectorAll("input:checked")).map((box) => box.value);
    resetConfirm.disabled = true;
    try {
      const path = "/users/" + encodeURIComponent(resetUser) + "/manage-volumes";
      const answer = await api("DELETE", path, { volumes: labels });
      const failed = answer.failed_volumes.length > 0;
      say("stellars-admin-reset-message", failed ? "warning" : "success", answer.message);
    } catch (error) {
      say("stellars-admin-reset-message", "danger", error.message);
    }
    for (const box of resetList.querySelectorAll("input")) box.checked = false;
  });

  deleteOrphans.addEventListener("click", () => {
    const names = chosenOrphans();
    document.getElementById("stellars-orphans-question").textContent =
      "Delete " + names.length + " volume(s) with everything in them: " + names.join(", ") + "?";
    modal("stellars-orphans-dialog").show();
  });

  document.getElementById("stellars-orphans-confirm").addEventListener("click", async () => {
    const names = chosenOrphans();
    modal("stellars-orphans-dialog").hide();
    try {
      const answer = await api("DELETE", "/admin/orphaned-volumes", { volumes: names });
      say("stellars-admin-volumes-message", "success", answer.message);
      for (const name of answer.deleted) {
        const row = orphansBody.querySelector('tr[data-volume="' + CSS.escape(name) + '"]');
        if (row) row.remove();
      }
    } catch (error) {
      say("stellars-admin-volumes-message", "danger", error.message);
    }
    deleteOrphans.disabled = chosenOrphans().length === 0;
  });

  document.getElementById("stellars-admin-volumes-refresh").addEventListener("click", loadVolumes);
  loadVolumes();
})();
