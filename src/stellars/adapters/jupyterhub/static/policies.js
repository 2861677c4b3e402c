// The group policies page: the policies in the admins' order (move up and down), a new one for a
// group without one, the editor dialog (a policy document to PUT /policies/{group}), deleting,
// and what one user gets and from which group. The hub checks every value and answers a bad
// one with a message naming its field, shown in the dialog as it came.
(function () {
  "use strict";

  const root = document.getElementById("stellars-policies");
  if (!root) return;
  const { api, bytes, duration, element, say, hide, modal, resourceRows } = window.stellars;
  const GIB = 1024 * 1024 * 1024;
  const state = { policies: [], groups: [], editing: null, deleting: null };

  const groupPath = (group) => "/policies/" + encodeURIComponent(group);

  // --- what a policy gives, in words ---------------------------------------------------------

  function gives(policy) {
    const parts = [];
    if (policy.cpu_limit !== null) parts.push("CPU " + policy.cpu_limit + " core(s)");
    if (policy.memory_limit !== null) parts.push("memory " + bytes(policy.memory_limit));
    if (policy.pids_limit !== null) parts.push(policy.pids_limit + " processes");
    if (policy.gpus !== null) parts.push(policy.gpus + " GPU(s), " + policy.gpu_sharing);
    if (policy.images.length) parts.push("images " + policy.images.join(", "));
    const names = Object.keys(policy.environment);
    if (names.length) parts.push("variables " + names.join(", "));
    for (const mount of policy.mounts) {
      parts.push(mount.volume + " at " + mount.path + (mount.read_only ? " (read-only)" : " (read-write)"));
    }
    if (policy.docker_socket) parts.push("the Docker socket");
    if (policy.docker_privileged) parts.push("a privileged container");
    if (policy.idle_timeout_seconds !== null) parts.push("idle timeout " + duration(policy.idle_timeout_seconds));
    if (policy.max_extension_hours !== null) parts.push("extensions up to " + policy.max_extension_hours + " h");
    if (policy.storage_quota !== null) parts.push("storage quota " + bytes(policy.storage_quota));
    return parts.length ? parts.join("; ") : "nothing yet (no opinion on anything)";
  }

  // --- the list -------------------------------------------------------------------------------

  function moveButton(index, step, label, icon) {
    const target = index + step;
    const button = element(
      "button",
      {
        type: "button",
        class: "btn btn-sm btn-outline-secondary",
        title: label,
        "aria-label": label,
        disabled: target < 0 || target >= state.policies.length,
      },
      element("i", { class: "fa " + icon, "aria-hidden": "true" }),
    );
    button.addEventListener("click", () => move(index, target));
    return button;
  }

  function render() {
    const body = document.querySelector("#policies-table tbody");
    body.replaceChildren(
      ...state.policies.map((policy, index) => {
        const edit = element("button", { type: "button", class: "btn btn-sm btn-outline-primary", text: "Edit" });
        edit.addEventListener("click", () => openEditor(policy.group, policy));
        const remove = element("button", { type: "button", class: "btn btn-sm btn-outline-danger", text: "Delete" });
        remove.addEventListener("click", () => {
          state.deleting = policy.group;
          modal("stellars-policy-delete-dialog").show();
        });
        return element(
          "tr",
          { "data-group": policy.group },
          element(
            "td",
            { class: "text-nowrap" },
            String(index + 1) + " ",
            moveButton(index, -1, "Move up", "fa-arrow-up"),
            " ",
            moveButton(index, 1, "Move down", "fa-arrow-down"),
          ),
          element("td", { class: "fw-semibold", text: policy.group }),
          element("td", { class: "stellars-value", text: gives(policy) }),
          element("td", { class: "text-nowrap" }, edit, " ", remove),
        );
      }),
    );
    if (!state.policies.length) {
      body.append(element("tr", {}, element("td", { colspan: "4", class: "text-body-secondary", text: "No group has a policy yet." })));
    }
    const have = new Set(state.policies.map((policy) => policy.group));
    const free = state.groups.filter((group) => !have.has(group));
    const select = document.getElementById("policy-new-group");
    select.replaceChildren(...free.map((group) => element("option", { value: group, text: group })));
    if (!free.length) select.append(element("option", { value: "", text: "every group has a policy" }));
    document.getElementById("policy-new").disabled = !free.length;
  }

  async function load() {
    const answer = await api("GET", "/policies");
    state.policies = answer.policies;
    state.groups = answer.groups;
    state.allowed = answer.allowed_images;
    render();
    const builtin = answer.builtin
      .map((entry) => entry.group + (entry.grants === "docker_socket" ? " (the Docker socket)" : " (a privileged container)"))
      .join(" and ");
    document.getElementById("policies-builtin").textContent =
      "Built in: members of " + builtin + " get that access whatever the policies say; a policy of such a group adds to it.";
    const defaults = answer.defaults;
    document.getElementById("policies-defaults").textContent =
      "Without a policy: the image " + defaults.image + ", idle timeout " + duration(defaults.idle_timeout_seconds) +
      ", extensions up to " + defaults.max_extension_hours + " h, " + defaults.gpus + " GPU(s).";
    document.getElementById("policy-allowed-images").textContent =
      "Images a policy may name: " + answer.allowed_images.join(", ") + ".";
  }

  async function move(from, to) {
    const order = state.policies.map((policy) => policy.group);
    const [group] = order.splice(from, 1);
    order.splice(to, 0, group);
    try {
      const answer = await api("PUT", "/policies", { order: order });
      state.policies = answer.policies;
      render();
      say("policies-message", "success", "The order is saved: " + order.join(", ") + ".");
    } catch (error) {
      say("policies-message", "danger", error.message);
    }
  }

  // --- the editor -----------------------------------------------------------------------------

  const field = (id) => document.getElementById("policy-" + id);

  function numberOrNull(id, scale) {
    const text = field(id).value.trim();
    if (text === "") return null;
    const value = Number(text) * (scale || 1);
    return scale && scale !== 1 ? Math.round(value) : value;
  }

  function lines(id) {
    return field(id)
      .value.split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
  }

  // The editor's fields as a policy document; a line the page cannot read is an Error naming it.
  function documentFromForm() {
    const environment = {};
    for (const line of lines("environment")) {
      const at = line.indexOf("=");
      if (at < 1) throw new Error("environment: write NAME=value, got " + JSON.stringify(line));
      environment[line.slice(0, at).trim()] = line.slice(at + 1);
    }
    const mounts = lines("mounts").map((line) => {
      const parts = line.split(":");
      if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && !["ro", "rw"].includes(parts[2]))) {
        throw new Error("mounts: write volume:/path:ro or volume:/path:rw, got " + JSON.stringify(line));
      }
      return { volume: parts[0], path: parts[1], read_only: parts[2] !== "rw" };
    });
    const idle = numberOrNull("idle");
    return {
      cpu_limit: numberOrNull("cpu"),
      memory_limit: numberOrNull("memory", GIB),
      pids_limit: numberOrNull("pids"),
      gpus: numberOrNull("gpus"),
      gpu_sharing: field("gpu-sharing").value,
      images: lines("images"),
      environment: environment,
      mounts: mounts,
      docker_socket: field("docker-socket").checked,
      docker_privileged: field("docker-privileged").checked,
      idle_timeout_seconds: idle === null ? null : Math.round(idle * 60),
      max_extension_hours: numberOrNull("extension"),
      storage_quota: numberOrNull("quota", GIB),
    };
  }

  function fill(policy) {
    const show = (value, scale) => (value === null || value === undefined ? "" : String(value / (scale || 1)));
    field("cpu").value = show(policy && policy.cpu_limit);
    field("memory").value = show(policy && policy.memory_limit, GIB);
    field("pids").value = show(policy && policy.pids_limit);
    field("gpus").value = show(policy && policy.gpus);
    field("gpu-sharing").value = (policy && policy.gpu_sharing) || "exclusive";
    field("quota").value = show(policy && policy.storage_quota, GIB);
    field("idle").value = show(policy && policy.idle_timeout_seconds, 60);
    field("extension").value = show(policy && policy.max_extension_hours);
    field("images").value = policy ? policy.images.join("\n") : "";
    field("environment").value = policy
      ? Object.entries(policy.environment).map(([name, value]) => name + "=" + value).join("\n")
      : "";
    field("mounts").value = policy
      ? policy.mounts.map((m) => m.volume + ":" + m.path + ":" + (m.read_only ? "ro" : "rw")).join("\n")
      : "";
    field("docker-socket").checked = Boolean(policy && policy.docker_socket);
    field("docker-privileged").checked = Boolean(policy && policy.docker_privileged);
  }

  function openEditor(group, policy) {
    state.editing = group;
    document.getElementById("stellars-policy-title").textContent = "Policy of the group " + group;
    fill(policy);
    hide("stellars-policy-message");
    modal("stellars-policy-dialog").show();
  }

  async function save() {
    const group = state.editing;
    let body;
    try {
      body = documentFromForm();
    } catch (error) {
      say("stellars-policy-message", "danger", error.message);
      return;
    }
    const button = document.getElementById("stellars-policy-confirm");
    button.disabled = true;
    try {
      const answer = await api("PUT", groupPath(group), body);
      modal("stellars-policy-dialog").hide();
      await load();
      say("policies-message", "success", answer.message);
    } catch (error) {
      say("stellars-policy-message", "danger", error.message);
    } finally {
      button.disabled = false;
    }
  }

  async function remove() {
    const group = state.deleting;
    modal("stellars-policy-delete-dialog").hide();
    try {
      const answer = await api("DELETE", groupPath(group));
      await load();
      say("policies-message", "success", answer.message);
    } catch (error) {
      say("policies-message", "danger", error.message);
    }
  }

  // --- what a user gets -----------------------------------------------------------------------

  async function loadUsers() {
    try {
      const users = await api("GET", "/users?limit=200");
      const list = Array.isArray(users) ? users : users.items || [];
      document.getElementById("resources-users").replaceChildren(
        ...list.map((user) => element("option", { value: user.name })),
      );
    } catch (error) {
      // Only the picker's suggestions are missing; any name may still be typed.
    }
  }

  async function showResources(event) {
    event.preventDefault();
    const name = document.getElementById("resources-user").value.trim();
    const table = document.getElementById("resources-table");
    hide("resources-message");
    try {
      const got = await api("GET", "/users/" + encodeURIComponent(name) + "/resources");
      document.querySelector("#resources-table tbody").replaceChildren(
        ...resourceRows(got).map(([what, value, from]) =>
          element(
            "tr",
            { "data-resource": what },
            element("th", { scope: "row", class: "fw-normal", text: what }),
            element("td", { class: "stellars-value", text: value }),
            element("td", { text: from }),
          ),
        ),
      );
      table.classList.remove("d-none");
      say(
        "resources-message",
        "info",
        got.username + (got.groups.length ? " is in " + got.groups.join(", ") + "." : " is in no group."),
      );
    } catch (error) {
      table.classList.add("d-none");
      say("resources-message", "danger", error.message);
    }
  }

  document.getElementById("policy-new-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const group = document.getElementById("policy-new-group").value;
    if (group) openEditor(group, null);
  });
  document.getElementById("stellars-policy-confirm").addEventListener("click", save);
  document.getElementById("policy-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  document.getElementById("stellars-policy-delete-confirm").addEventListener("click", remove);
  document.getElementById("resources-form").addEventListener("submit", showResources);
  load().catch((error) => say("policies-message", "danger", error.message));
  loadUsers();
})();
