// Shared helpers of the platform's pages: JSON calls to the hub API with JupyterHub's XSRF
// token, and the formats the pages share. Loaded with a plain <script> tag; defines
// window.stellars.
(function () {
  "use strict";

  const data = window.jhdata || {};

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // fetch() sends Sec-Fetch-Mode: cors, so JupyterHub checks XSRF on every method.
  async function api(method, path, body) {
    const options = {
      method: method,
      headers: { "X-XSRFToken": data.xsrf_token || "", Accept: "application/json" },
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(data.base_url + "api" + path, options);
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

  window.stellars = { api, ApiError, duration, ago, megabytes, element };
})();
