// The activity dashboard: loads GET /hub/api/activity (every page of it) and each user's last
// stop (GET /hub/api/activity/last-stops), renders a sortable table, refreshes itself, resets after a confirmation, and links the usage history CSV. The
// GPUs (GET /hub/api/activity/gpus) get a table of their own, shown when the host has some; the
// free disk of the engine's data directory is one line, a warning when it is low. In swarm mode
// (the answer has `nodes`) a Node column says where each lab runs, and one line lists each node
// with the age of its newest report, stale ones flagged.
(function () {
  "use strict";

  const { base, api, duration, ago, megabytes, element, modal } = window.stellars;
  const root = document.getElementById("stellars-activity");
  const config = {
    targetHours: Number(root.dataset.targetHours),
    samplesPerDay: Number(root.dataset.samplesPerDay),
    sampleInterval: Number(root.dataset.sampleInterval),
    retentionDays: Number(root.dataset.retentionDays),
    refreshSeconds: Number(root.dataset.refreshSeconds),
  };
  const STATUS_RANK = { active: 2, idle: 1, offline: 0 };
  const STATUS_TEXT = {
    active: ["text-success", "Online (active)"],
    idle: ["text-warning", "Online (idle)"],
    offline: ["text-danger", "Offline"],
  };
  const state = { users: [], sort: null, direction: 0, loaded: null, stops: new Map() };

  async function loadAll() {
    let offset = 0;
    const users = [];
    let last = null;
    for (;;) {
      last = await api("GET", "/activity?offset=" + offset);
      users.push(...last.users);
      if (last.next_offset === null) break;
      offset = last.next_offset;
    }
    return { users, answer: last };
  }

  // Each user's last stop (GET /hub/api/activity/last-stops), by username; the table works
  // without it (the column then says nothing).
  async function loadStops() {
    try {
      const answer = await api("GET", "/activity/last-stops");
      return new Map(answer.stops.map((stop) => [stop.username, stop]));
    } catch (error) {
      return new Map();
    }
  }

  async function refresh() {
    refreshGpus();
    try {
      const [{ users, answer }, stops] = await Promise.all([loadAll(), loadStops()]);
      state.users = users;
      state.loaded = answer;
      state.stops = stops;
      document.getElementById("activity-error").classList.add("d-none");
      render();
    } catch (error) {
      const box = document.getElementById("activity-error");
      box.textContent = "Could not load the activity data: " + error.message;
      box.classList.remove("d-none");
    }
  }

  function compare(a, b) {
    const key = state.sort;
    if (!key) {
      const byStatus = STATUS_RANK[b.status] - STATUS_RANK[a.status];
      return byStatus || a.username.localeCompare(b.username, undefined, { sensitivity: "base" });
    }
    let left = a[key];
    let right = b[key];
    if (key === "status") {
      left = STATUS_RANK[left];
      right = STATUS_RANK[right];
    }
    if (key === "last_activity") {
      left = left ? Date.parse(left) : null;
      right = right ? Date.parse(right) : null;
    }
    if (left === null || left === undefined) return right === null || right === undefined ? 0 : 1;
    if (right === null || right === undefined) return -1;
    const order = typeof left === "string" ? left.localeCompare(right) : left - right;
    return state.direction * order || a.username.localeCompare(b.username);
  }

  function activityBar(user) {
    if (user.activity_score === null) return element("span", { text: "--" });
    const normalized = Math.round(user.activity_score / (config.targetHours / 24));
    const shown = Math.min(normalized, 100);
    const lit = shown === 0 ? 0 : Math.ceil(shown / 20);
    const colour = lit >= 4 ? "bg-success" : lit >= 2 ? "bg-warning" : "bg-danger";
    const collected = Math.round((user.sample_count * config.sampleInterval) / 3600);
    const title = user.enough_data
      ? "Activity: " + normalized + "% of the " + config.targetHours + " h daily target (score " + user.activity_score + ", " + user.activity_level + ")"
      : "Not enough data (" + collected + "h of 24h collected)";
    const bar = element("div", { class: "stellars-activity-bar", title: title, "data-lit": lit });
    for (let i = 0; i < 5; i += 1) {
      bar.append(element("span", { class: i < lit ? colour : "bg-body-secondary" }));
    }
    if (!user.enough_data) bar.classList.add("stellars-not-enough");
    return bar;
  }

  function volumes(user) {
    if (!user.volume_size_mb) return element("span", { text: "--" });
    const parts = Object.entries(user.volume_breakdown)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([label, size]) => label + ": " + megabytes(size));
    return element("span", { title: parts.join("\n"), text: megabytes(user.volume_size_mb) });
  }

  function timeLeft(seconds) {
    if (seconds === null) return element("span", { text: "--" });
    if (seconds <= 0) return element("span", { class: "text-danger", text: "Expiring..." });
    return element("span", { text: duration(seconds) });
  }

  function lastStop(user, now) {
    const stop = state.stops.get(user.username);
    if (!stop) return element("span", { class: "text-body-secondary", text: "--" });
    return element(
      "span",
      {
        class: stop.requested ? null : "text-danger", // nobody asked for it
        title: stop.message + " (" + new Date(stop.at).toLocaleString() + ")",
        "data-reason": stop.reason,
      },
      stop.explanation,
      element("span", { class: "text-body-secondary small", text: " · " + ago(stop.at, now) })
    );
  }

  // A report's age in words: seconds under a minute, else as other durations.
  function reportAge(seconds) {
    return seconds < 60 ? seconds + " s" : duration(seconds);
  }

  // Swarm mode: each node with the age of its newest report; a stale one in red, saying so.
  function showNodes(nodes) {
    const line = document.getElementById("activity-nodes");
    line.classList.toggle("d-none", !nodes);
    if (!nodes) return;
    const items = nodes.map((node) =>
      element(
        "span",
        {
          class: "stellars-node me-3" + (node.is_stale ? " text-danger" : ""),
          "data-node": node.node,
          "data-stale": node.is_stale ? "true" : "false",
          title: node.is_stale ? "No recent report: the node's sampler (or the node) is down; its labs' figures are this old" : null,
        },
        element("i", { class: "fa fa-server", "aria-hidden": "true" }),
        " " + node.node + ": report " + reportAge(node.report_age_seconds) + " ago" + (node.is_stale ? " (stale)" : ""),
      ),
    );
    line.replaceChildren("Nodes: ", ...(items.length ? items : ["no node has reported yet"]));
  }

  function row(user, now, swarm) {
    const [statusClass, statusText] = STATUS_TEXT[user.status];
    return element(
      "tr",
      { "data-username": user.username, "data-status": user.status },
      element("td", { text: user.username }),
      element(
        "td",
        {},
        element("i", {
          class: user.is_authorized ? "fa fa-check text-success" : "fa fa-xmark text-danger",
          title: user.is_authorized ? "authorized" : "not authorized",
          "aria-label": user.is_authorized ? "authorized" : "not authorized",
        }),
      ),
      element("td", {}, element("i", { class: "fa fa-circle " + statusClass, "aria-hidden": "true" }), " " + statusText),
      swarm ? element("td", { class: "stellars-lab-node", text: user.node || "--" }) : null,
      element("td", { text: user.cpu_percent === null ? "--" : user.cpu_percent.toFixed(1) + "%" }),
      element("td", { text: megabytes(user.memory_mb) }),
      element("td", {}, volumes(user)),
      element("td", {}, timeLeft(user.time_remaining_seconds)),
      element("td", { title: user.last_activity || "", text: ago(user.last_activity, now) }),
      element("td", {}, activityBar(user)),
      element("td", { class: "stellars-last-stop" }, lastStop(user, now)),
    );
  }

  function freshness(answer) {
    const describe = (label, snapshot) => {
      if (snapshot.age_seconds === null) {
        return label + ": " + (snapshot.error ? "unavailable (" + snapshot.error + ")" : "not measured yet");
      }
      const age = label + " from " + duration(snapshot.age_seconds) + " ago";
      return snapshot.error ? age + " (latest refresh failed: " + snapshot.error + ")" : age;
    };
    return [
      describe("CPU and memory", answer.snapshots.container_stats),
      describe("volume sizes", answer.snapshots.volume_sizes),
    ].join(" · ");
  }

  // The free disk of the engine's data directory: the line the page was rendered with,
  // brought up to date (its look follows data-state: stellars.css).
  function showDisk(disk) {
    const line = document.getElementById("activity-disk");
    line.dataset.state = disk.state;
    line.querySelector(".stellars-disk-path").textContent = disk.path ? " " + disk.path : "";
    let text = disk.text;
    if (disk.age_seconds !== null) {
      text += disk.age_seconds < 60 ? " (measured just now)" : " (measured " + duration(disk.age_seconds) + " ago)";
    }
    line.querySelector(".stellars-disk-text").textContent = text;
  }

  function render() {
    const now = Date.parse(state.loaded.timestamp);
    const users = state.users.slice().sort(compare);
    const body = document.querySelector("#activity-table tbody");
    const swarm = Array.isArray(state.loaded.nodes);
    document.getElementById("activity-node-column").classList.toggle("d-none", !swarm);
    body.replaceChildren(...users.map((user) => row(user, now, swarm)));
    showNodes(swarm ? state.loaded.nodes : null);
    const counts = { active: 0, idle: 0, offline: 0 };
    for (const user of state.users) counts[user.status] += 1;
    document.getElementById("activity-counts").textContent =
      state.users.length + " user(s) (" + counts.active + " active, " + counts.idle + " idle, " + counts.offline + " offline)";
    document.getElementById("activity-empty").classList.toggle("d-none", state.users.length > 0);
    document.getElementById("activity-freshness").textContent = freshness(state.loaded);
    showDisk(state.loaded.host_disk);
    for (const header of document.querySelectorAll("#activity-table th[data-sort]")) {
      const active = header.dataset.sort === state.sort;
      header.setAttribute("aria-sort", !active ? "none" : state.direction > 0 ? "ascending" : "descending");
    }
  }

  function holderName(holder) {
    return holder.server ? holder.username + "/" + holder.server : holder.username;
  }

  function gpuRow(gpu) {
    const used = gpu.memory_used_mib;
    const memory =
      used === null ? "-- / " + megabytes(gpu.memory_total_mib) : megabytes(used) + " / " + megabytes(gpu.memory_total_mib);
    const holders = gpu.holders.map(holderName);
    const sharing = gpu.sharing === null ? "free" : gpu.sharing;
    return element(
      "tr",
      { "data-gpu": gpu.index, "data-uuid": gpu.uuid, "data-sharing": sharing, "data-holders": holders.join(" ") },
      element("td", { title: gpu.uuid, text: "GPU " + gpu.index + (gpu.name ? " (" + gpu.name + ")" : "") }),
      element("td", { text: memory }),
      element("td", { text: gpu.utilization_percent === null ? "--" : gpu.utilization_percent + "%" }),
      element("td", { text: holders.length ? holders.join(", ") : "nobody" }),
      element("td", {}, element("span", { class: "badge " + (sharing === "exclusive" ? "text-bg-primary" : sharing === "shared" ? "text-bg-info" : "text-bg-secondary"), text: sharing })),
    );
  }

  async function refreshGpus() {
    const section = document.getElementById("activity-gpus");
    let answer;
    try {
      answer = await api("GET", "/activity/gpus");
    } catch (error) {
      document.getElementById("activity-gpus-freshness").textContent = "Could not load the GPUs: " + error.message;
      return;
    }
    section.classList.toggle("d-none", answer.gpus.length === 0);
    document.querySelector("#activity-gpus-table tbody").replaceChildren(...answer.gpus.map(gpuRow));
    const readings = answer.readings;
    let text;
    if (readings.age_seconds === null) {
      text = "Memory and utilisation: " + (readings.error ? "unavailable (" + readings.error + ")" : "not measured yet");
    } else {
      text = "Memory and utilisation from " + duration(readings.age_seconds) + " ago";
      if (readings.error) text += " (latest reading failed: " + readings.error + ")";
    }
    document.getElementById("activity-gpus-freshness").textContent = text;
  }

  // none -> descending -> ascending -> none, as the original dashboard did
  function sortBy(key) {
    if (state.sort !== key) {
      state.sort = key;
      state.direction = -1;
    } else if (state.direction === -1) {
      state.direction = 1;
    } else {
      state.sort = null;
      state.direction = 0;
    }
    render();
  }

  function historyLink() {
    const start = document.getElementById("history-start").value;
    const end = document.getElementById("history-end").value;
    const link = document.getElementById("history-download");
    link.href = base + "api/activity/history?start=" + encodeURIComponent(start) + "&end=" + encodeURIComponent(end);
  }

  async function reset() {
    const button = document.getElementById("activity-reset-confirm");
    button.disabled = true;
    try {
      await api("POST", "/activity/reset");
      modal("activity-reset-dialog").hide();
      await refresh();
    } catch (error) {
      const box = document.getElementById("activity-error");
      box.textContent = "Reset failed: " + error.message;
      box.classList.remove("d-none");
    } finally {
      button.disabled = false;
    }
  }

  for (const header of document.querySelectorAll("#activity-table th[data-sort]")) {
    header.classList.add("stellars-sortable");
    header.addEventListener("click", () => sortBy(header.dataset.sort));
  }
  document.getElementById("activity-refresh").addEventListener("click", refresh);
  document.getElementById("activity-reset-confirm").addEventListener("click", reset);
  const today = new Date();
  const first = new Date(today.getTime() - 6 * 86400000);
  document.getElementById("history-end").value = today.toISOString().slice(0, 10);
  document.getElementById("history-start").value = first.toISOString().slice(0, 10);
  document.getElementById("history-start").addEventListener("change", historyLink);
  document.getElementById("history-end").addEventListener("change", historyLink);
  historyLink();
  refresh();
  setInterval(refresh, config.refreshSeconds * 1000);
})();
