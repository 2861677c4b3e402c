// Shared helpers of the platform's pages: the hub's base URL, JSON calls to the hub API with
// JupyterHub's XSRF token, the formats the pages share, elements, alerts and dialogs. Loaded
// with a plain <script> tag, once per page and before the page's own scripts; defines
// window.stellars. The pages' scripts take what they need from here rather than writing it
// again.
(function () {
  "use strict";

  const data = window.jhdata || {};
  // The hub's base URL as JupyterHub put it in the page ("/hub/", or under a prefix).
  const base = data.base_url || "/hub/";
  // The browser's own fetch, taken before a page script wraps it (the admin page watches the
  // React app's calls): the platform's calls never pass through such a wrapper.
  const nativeFetch = window.fetch.bind(window);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // The token JupyterHub put in the page, else its _xsrf cookie.
  function xsrfToken() {
    if (data.xsrf_token) return data.xsrf_token;
    const match = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // fetch() sends Sec-Fetch-Mode: cors, so JupyterHub checks XSRF on every method. `path` is
  // under the hub's API: "/users/ada/manage-volumes". Errors carry the hub's JSON message.
  async function api(method, path, body) {
    const options = {
      method: method,
      headers: { "X-XSRFToken": xsrfToken(), Accept: "application/json" },
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await nativeFetch(base + "api" + path, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok) {
      const message = (payload && payload.message) || response.statusText || "request failed";
      throw new ApiError(response.status, message);
    }
    return payload;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "--";
    if (seconds <= 0) return "0m";
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    if (days > 0) return days + "d " + hours + "h";
    if (hours > 0) return hours + "h " + minutes + "m";
    return minutes + "m";
  }

  function ago(iso, now) {
    if (!iso) return "never";
    const seconds = Math.max(0, ((now || Date.now()) - Date.parse(iso)) / 1000);
    if (seconds < 60) return "now";
    const units = [
      [30 * 86400, "month"],
      [86400, "day"],
      [3600, "hour"],
      [60, "minute"],
    ];
    for (const [size, name] of units) {
      if (seconds >= size) {
        const count = Math.floor(seconds / size);
        return count + " " + name + (count === 1 ? "" : "s") + " ago";
      }
    }
    return "now";
  }

  function megabytes(mb) {
    if (mb === null || mb === undefined) return "--";
    if (mb >= 1024) return (mb / 1024).toFixed(1) + " GB";
    return Math.round(mb) + " MB";
  }

  // A size in bytes for people: "1.5 GB"; `unmeasured` when the size is not known (yet).
  function bytes(size, unmeasured) {
    if (size === null || size === undefined) return unmeasured || "not measured";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let value = size;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + " " + units[unit];
  }

  // The alert box `id` shows `text` (as text, never HTML) in Bootstrap's `kind` colours.
  function say(id, kind, text) {
    const box = document.getElementById(id);
    box.className = "alert alert-" + kind + " mt-3 mb-0 py-2";
    box.textContent = text;
  }

  function hide(id) {
    document.getElementById(id).className = "alert d-none";
  }

  // The Bootstrap dialog `id` of JupyterHub's page.
  function modal(id) {
    return window.bootstrap.Modal.getOrCreateInstance(document.getElementById(id));
  }

  // A new `tag` element. `attributes`: "class" and "text" (the text content, never HTML) set
  // those; null, undefined and false leave an attribute out, true sets it empty ("disabled");
  // anything else becomes the attribute's value. `children`: nodes, or values added as text.
  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // What a user's servers get (GET /users/{user}/resources) as rows for people: [what, value,
  // where it comes from]. A value no policy of theirs decided is the platform's default.
  function resourceRows(got) {
    const from = (key) => (got.sources[key] ? "group " + got.sources[key] : "platform default");
    const limit = (value, text) => (value === null || value === undefined ? "no limit" : text);
    const rows = [
      ["CPU", limit(got.cpu_limit, got.cpu_limit + " core(s)"), from("cpu_limit")],
      ["Memory", limit(got.memory_limit, bytes(got.memory_limit)), from("memory_limit")],
      ["Processes", limit(got.pids_limit, String(got.pids_limit)), from("pids_limit")],
      ["GPUs", got.gpus + (got.gpus > 0 ? " (" + got.gpu_sharing + ")" : ""), from("gpus")],
      [
        "Image",
        got.image + (got.images.length > 1 ? " (you may choose: " + got.images.join(", ") + ")" : ""),
        from("image"),
      ],
      ["Idle timeout", duration(got.idle_timeout_seconds), from("idle_timeout_seconds")],
      ["Longest extension", got.max_extension_hours + " h", from("max_extension_hours")],
      ["Storage quota", limit(got.storage_quota, bytes(got.storage_quota)), from("storage_quota")],
    ];
    if (got.docker_socket) rows.push(["Docker socket", "the host's", from("docker_socket")]);
    if (got.docker_privileged) rows.push(["Privileged container", "yes", from("docker_privileged")]);
    for (const mount of got.mounts) {
      const mode = mount.read_only ? "read-only" : "read-write";
      rows.push(["Volume " + mount.volume, mount.path + " (" + mode + ")", from("mounts:" + mount.path)]);
    }
    for (const [name, value] of Object.entries(got.environment)) {
      rows.push(["Variable " + name, value, from("environment:" + name)]);
    }
    return rows;
  }

  window.stellars = {
    base,
    api,
    ApiError,
    duration,
    ago,
    megabytes,
    bytes,
    element,
    say,
    hide,
    modal,
    resourceRows,
  };
})();
