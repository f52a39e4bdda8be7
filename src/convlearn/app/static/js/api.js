// Requests to the server; every refused request shows its message in the error banner.

export class ApiError extends Error {
  constructor(status, key, message) { super(message); this.status = status; this.key = key; }
}

async function parse(response) {
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(response.status, err.key || "app_err_internal", err.message || `HTTP ${response.status}`);
  }
  return data;
}

export async function getJSON(url) {
  return parse(await fetch(url, { headers: { accept: "application/json" } }));
}

export async function postJSON(url, body) {
  return parse(await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }));
}

export async function postBytes(url, bytes, type = "application/octet-stream") {
  return parse(await fetch(url, { method: "POST", headers: { "content-type": type }, body: bytes }));
}

const banner = () => document.querySelector("[data-testid=error-banner]");

/** Show `error` (an ApiError or any Error) at the top of the page. */
export function showError(error) {
  const b = banner();
  b.querySelector("[data-testid=error-text]").textContent = error.message || String(error);
  b.dataset.key = error.key || "";
  b.hidden = false;
}

export function clearError() { banner().hidden = true; }

/** Run `fn`, showing its error instead of throwing; returns its result or undefined. */
export async function guarded(fn) {
  try { return await fn(); } catch (e) { if (!(e && e.name === "AbortError")) showError(e); return undefined; }
}
