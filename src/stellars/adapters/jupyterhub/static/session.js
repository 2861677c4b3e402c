// The home page's idle-session card: a live countdown from the hub's session rule, what the
// busy rule says of the server, and an extend control whose limits come from the hub. After an extension the countdown moves at
// once, from the session-info in the answer.
(function () {
  "use strict";

  const card = document.getElementById("stellars-session");
  if (!card) return;
  const { api, duration, say } = window.stellars;
  const path = "/users/" + encodeURIComponent(card.dataset.user);
  const state = { info: null, fetchedAt: 0 };

  function secondsLeft() {
    if (!state.info || state.info.time_remaining_seconds === null) return null;
    const elapsed = (Date.now() - state.fetchedAt) / 1000;
    return Math.max(0, state.info.time_remaining_seconds - elapsed);
  }

  function tick() {
    const left = secondsLeft();
    if (left === null) return;
    const remaining = document.getElementById("session-remaining");
    remaining.textContent = left <= 0 ? "moments (it may be stopped soon)" : duration(left);
    remaining.className = left < 1800 ? "text-danger" : left < 3600 ? "text-warning" : "";
    const share = Math.min(100, (left / state.info.timeout_seconds) * 100);
    const bar = document.getElementById("session-progress");
    bar.style.width = share.toFixed(1) + "%";
    bar.className = "progress-bar " + (left < 1800 ? "bg-danger" : left < 3600 ? "bg-warning" : "bg-success");
  }

  function show(info) {
    state.info = info;
    state.fetchedAt = Date.now();
    const visible = info.culler_enabled && info.server_active && info.time_remaining_seconds !== null;
    card.classList.toggle("d-none", !visible);
    if (!visible) return;
    const offer = info.extensions_available_hours || 0;
    const hours = document.getElementById("session-hours");
    hours.max = String(Math.max(1, offer));
    if (Number(hours.value) > offer && offer > 0) hours.value = String(offer);
    hours.disabled = offer < 1;
    const button = document.getElementById("session-extend-button");
    button.disabled = offer < 1;
    button.title = offer < 1 ? "The session already runs to its limit" : "";
    document.getElementById("session-offer").textContent =
      offer < 1
        ? "No more hours available for now (limit: " + duration(info.ceiling_seconds) + " from now)."
        : "You can add up to " + offer + " hour(s).";
    // The busy rule's word: kept alive while it computes, with the figures (textContent only).
    const busy = document.getElementById("session-busy");
    busy.textContent = info.busy ? info.busy.message : "";
    busy.classList.toggle("d-none", !info.busy);
    document.getElementById("session-deadline").textContent = info.cull_at
      ? "(extended until " + new Date(info.cull_at).toLocaleString() + ")"
      : "";
    tick();
  }

  async function load() {
    try {
      show(await api("GET", path + "/session-info"));
    } catch (error) {
      card.classList.add("d-none");
    }
  }

  async function extend(event) {
    event.preventDefault();
    const hours = Number(document.getElementById("session-hours").value);
    const button = document.getElementById("session-extend-button");
    button.disabled = true;
    try {
      const answer = await api("POST", path + "/extend-session", { hours: hours });
      show(answer.session_info);
      say("session-message", answer.truncated ? "warning" : "success", answer.message);
    } catch (error) {
      say("session-message", "danger", error.message);
      await load();
    }
  }

  document.getElementById("session-extend").addEventListener("submit", extend);
  load();
  setInterval(tick, 1000);
  setInterval(load, 60000);
})();
