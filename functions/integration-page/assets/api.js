// The dashboard API, called with the contractor's token. The host platform opens the page with the token in the
// URL's fragment (#token=…), which browsers never send to a server; it is kept for this tab only and taken out of
// the address bar at once.

const KEY = "servicetitan-integration-token";

function fromFragment() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY);
}

// The dashboard may open the page again in the same tab with a fresh token: only the fragment changes, so the
// browser does not load the page again by itself.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.replace(/^#/, "")).get("token")) {
    fromFragment();
    location.reload();
  }
});

function claimsOf(token) {
  try {
    const body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(body + "=".repeat((4 - (body.length % 4)) % 4)));
  } catch {
    return {};
  }
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || (status === 401 ? "unauthorized" : "error");
    this.fields = error.fields || [];
  }
}

export class Dashboard {
  constructor() {
    this.token = fromFragment();
    const claims = this.token ? claimsOf(this.token) : {};
    const query = new URLSearchParams(location.search);
    this.tenant = query.get("tenant") || claims.tenant_id || "";
    this.role = claims.role || "viewer";
    this.expires = claims.exp ? new Date(claims.exp * 1000) : null;
  }

  get signedIn() {
    return Boolean(this.token && this.tenant);
  }

  get owner() {
    return this.role === "owner";
  }

  async call(method, path, body) {
    const response = await fetch(`/dashboard/tenants/${encodeURIComponent(this.tenant)}/${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { message: text };
    }
    if (!response.ok) {
      throw new ApiError(response.status, parsed);
    }
    return parsed;
  }

  get(path) {
    return this.call("GET", path);
  }
}
