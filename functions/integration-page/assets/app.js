// The integration page: ServiceTitan's six connect steps, then the everyday part (recipes, activity, operations).
// Everything goes through the dashboard API with the contractor's token; errors are shown next to their fields
// and announced.

import { ApiError, Dashboard } from "/integrations/servicetitan/assets/api.js";
import { bars, columns } from "/integrations/servicetitan/assets/charts.js";

const $ = (id) => document.getElementById(id);
const api = new Dashboard();
let state = { status: null, options: null, settings: null, titles: {} };

const recipeTitle = (id) => state.titles[id] || id;
const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// ServiceTitan's web app, where a contractor looks at the records a test lead made.
const APP = {
  integration: "https://integration.servicetitan.com",
  production: "https://go.servicetitan.com",
};

function announce(text) {
  const a = $("announcer");
  a.textContent = "";
  window.setTimeout(() => { a.textContent = text; }, 50);
}

function text(node, value) {
  node.textContent = value ?? "";
  return node;
}

/** A link into ServiceTitan's web app, opened in a new tab. */
function externalLink(href, label) {
  const a = document.createElement("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.textContent = label;
  return a;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "never";
}

/** Clears the field errors inside `form`. */
function clearErrors(form) {
  for (const field of form.querySelectorAll(".field")) {
    field.classList.remove("invalid");
    const error = field.querySelector(".error");
    if (error) error.textContent = "";
    const input = field.querySelector("input, select, textarea");
    if (input) input.removeAttribute("aria-invalid");
  }
}

/** Shows `reasons` ([pointer, reason]) next to their fields in `form`; what has no field goes to `problem`. */
function showErrors(form, reasons, problem) {
  const unplaced = [];
  let first = null;
  for (const [pointer, reason] of reasons) {
    const field = form.querySelector(`.field[data-field="${CSS.escape(pointer)}"]`);
    if (!field) {
      unplaced.push(`${pointer || "request"}: ${reason}`);
      continue;
    }
    field.classList.add("invalid");
    text(field.querySelector(".error"), reason);
    const input = field.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  if (problem && unplaced.length) {
    problem.hidden = false;
    problem.className = "problem";
    text(problem, unplaced.join("; "));
  }
  if (first) first.focus();
  announce(reasons.map(([p, r]) => `${p.replace(/^\//, "")} ${r}`).join(". "));
}

/** A problem that is not about a field: ServiceTitan down, a session that ended, a viewer. */
function showProblem(box, error, retry) {
  box.hidden = false;
  box.className = "problem";
  box.replaceChildren();
  const p = document.createElement("p");
  if (error.status === 401) {
    p.textContent = "Your session has ended. Open this page again from your dashboard.";
  } else if (error.status === 403) {
    p.textContent = api.owner ? error.message : "You are signed in as a viewer: you can look, not change anything.";
  } else if (error.code === "servicetitan_unavailable" || error.status >= 500) {
    box.className = "problem down";
    p.textContent = `ServiceTitan is not answering right now (${error.message}). Nothing was changed.`;
  } else {
    p.textContent = error.message;
  }
  box.append(p);
  if (retry && (error.code === "servicetitan_unavailable" || error.status >= 500)) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Retry";
    button.addEventListener("click", () => { box.hidden = true; retry(); });
    box.append(button);
  }
  announce(p.textContent);
}

// ---------------------------------------------------------------------------------------------------- step 2, 3

function environment() {
  return document.querySelector('input[name="environment"]:checked').value;
}

function setEnvironment(value) {
  document.querySelector(`input[name="environment"][value="${value}"]`).checked = true;
}

async function connect(event) {
  event?.preventDefault();
  const form = $("connect-form");
  const problem = $("connect-problem");
  clearErrors(form);
  problem.hidden = true;
  const values = Object.fromEntries(["clientId", "clientSecret", "appKey", "tenantId"].map((k) => [k, $(k).value.trim()]));
  const missing = Object.entries(values).filter(([, v]) => !v).map(([k]) => [`/${k}`, "is required"]);
  if (values.tenantId && values.tenantId !== api.tenant) {
    missing.push(["/tenantId", `this page is signed in for tenant ${api.tenant}; paste that tenant's values`]);
  }
  if (missing.length) {
    showErrors(form, missing, problem);
    return;
  }
  $("connect").disabled = true;
  text($("connection"), "Checking the values with ServiceTitan…");
  try {
    const result = await api.call("PUT", "servicetitan", { environment: environment(), ...values });
    $("clientSecret").value = "";
    await refresh();
    // After the refresh, which writes the connection line from the status: say what this connect found.
    text($("connection"), `Connected to ServiceTitan ${result.environment} just now: ${result.businessUnits} business units found.`).className = "ok";
    announce("Connected to ServiceTitan.");
  } catch (e) {
    text($("connection"), "");
    if (!(e instanceof ApiError)) throw e;
    if (e.code === "wrong_environment") {
      const other = environment() === "integration" ? "production" : "integration";
      const label = other[0].toUpperCase() + other.slice(1);
      problem.hidden = false;
      problem.className = "problem";
      problem.replaceChildren();
      const p = document.createElement("p");
      p.textContent = `These values belong to ServiceTitan's ${label} environment, not the one you chose. Each environment has its own Client ID and Secret.`;
      const button = document.createElement("button");
      button.type = "button";
      button.id = "switch-environment";
      button.textContent = `Switch to ${label} and connect`;
      button.addEventListener("click", () => { setEnvironment(other); connect(); });
      problem.append(p, button);
      showErrors(form, [["/environment", `the values are for ${label}`]], null);
      announce(p.textContent);
    } else if (e.fields.length) {
      showErrors(form, e.fields.map((f) => [f.field, f.reason]), problem);
      if (problem.hidden) {
        problem.hidden = false;
        text(problem, e.message);
      }
    } else {
      showProblem(problem, e, () => connect());
    }
  } finally {
    $("connect").disabled = !api.owner;
  }
}

async function disconnect() {
  if (!window.confirm("Disconnect ServiceTitan? Follow-ups stop at once.")) return;
  try {
    await api.call("DELETE", "servicetitan");
    announce("Disconnected.");
    await refresh();
  } catch (e) {
    showProblem($("connect-problem"), e);
  }
}

// ------------------------------------------------------------------------------------------------------ step 4

function fill(select, items, selected, label = (x) => x.name) {
  select.replaceChildren();
  for (const item of items) {
    const option = document.createElement("option");
    option.value = String(item.id ?? item);
    option.textContent = typeof item === "object" ? label(item) : item;
    option.selected = String(item.id ?? item) === String(selected ?? "");
    select.append(option);
  }
}

function fillJobTypes() {
  const { options, settings } = state;
  if (!options) return;
  const unit = $("businessUnitId").value;
  const allowed = new Set((options.jobTypesByBusinessUnit[unit] || []).map(String));
  const types = options.jobTypes.filter((j) => allowed.has(String(j.id)));
  fill($("jobTypeId"), types, settings?.jobTypeId);
}

function showDefaults() {
  const { options, settings } = state;
  if (!options) return;
  const s = settings || {};
  fill($("businessUnitId"), options.businessUnits, s.businessUnitId);
  fillJobTypes();
  fill($("campaignId"), options.campaigns, s.campaignId);
  fill($("priority"), options.priorities, s.priority || "Normal");
  const window_ = s.leads?.arrivalWindow || { daysAhead: 1, start: "08:00", hours: 4 };
  $("daysAhead").value = window_.daysAhead;
  $("windowStart").value = window_.start;
  $("windowHours").value = window_.hours;
  $("timeZone").value = s.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone || "America/Chicago";
  $("companyName").value = s.companyName || "";
  $("bookingUrl").value = s.bookingUrl || "";
  const consent = s.aiCallConsent || { basis: "recorded" };
  $("attest").checked = consent.basis === "attested";
  $("attestedBy").value = consent.attestedBy || "";
  text($("attested"), consent.basis === "attested"
    ? `Attested by ${consent.attestedBy} on ${when(consent.attestedAt)}.`
    : "AI calls go only to customers whose consent is on record.");
}

/** The settings document: what is stored, with the form's values over it. */
function settingsFromForm() {
  const s = structuredClone(state.settings || {});
  s.businessUnitId = Number($("businessUnitId").value);
  s.jobTypeId = Number($("jobTypeId").value);
  s.campaignId = Number($("campaignId").value);
  s.priority = $("priority").value;
  s.timeZone = $("timeZone").value.trim();
  s.leads = s.leads || {};
  s.leads.arrivalWindow = {
    daysAhead: Number($("daysAhead").value),
    start: $("windowStart").value,
    hours: Number($("windowHours").value),
  };
  const company = $("companyName").value.trim();
  if (company) s.companyName = company; else delete s.companyName;
  const booking = $("bookingUrl").value.trim();
  if (booking) s.bookingUrl = booking; else delete s.bookingUrl;
  s.aiCallConsent = $("attest").checked
    ? { basis: "attested", attestedBy: $("attestedBy").value.trim() }
    : { basis: "recorded" };
  return s;
}

async function saveSettings(document_, form, problem) {
  clearErrors(form);
  problem.hidden = true;
  try {
    const saved = await api.call("PUT", "settings", document_);
    state.settings = saved.settings;
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.fields.length) {
      showErrors(form, e.fields.map((f) => [f.field, f.reason]), problem);
    } else {
      showProblem(problem, e);
    }
    return false;
  }
}

async function saveDefaults(event) {
  event.preventDefault();
  const form = $("defaults-form");
  if ($("attest").checked && !$("attestedBy").value.trim()) {
    clearErrors(form);
    showErrors(form, [["/aiCallConsent/attestedBy", "is required to attest: the name of who attests"]], null);
    return;
  }
  if (await saveSettings(settingsFromForm(), form, $("defaults-problem"))) {
    text($("defaults-saved"), "Saved.").className = "ok";
    announce("Defaults saved.");
    showDefaults();
    await refreshEveryday();
  }
}

// ------------------------------------------------------------------------------------------------------ step 5

async function showWebhooks() {
  const body = $("webhooks").querySelector("tbody");
  body.replaceChildren();
  let hooks;
  try {
    hooks = await api.get("webhooks");
  } catch {
    return;
  }
  text($("interval"), String(hooks.reconcileIntervalMinutes));
  if (hooks.events.length === 0) {
    const row = body.insertRow();
    const cell = row.insertCell();
    cell.colSpan = 4;
    cell.textContent = "Switch on a follow-up below: its events appear here.";
    return;
  }
  for (const hook of hooks.events) {
    const row = body.insertRow();
    text(row.insertCell(), hook.event);
    const url = `${location.origin}${hook.path}`;
    const cell = row.insertCell();
    const code = document.createElement("code");
    code.textContent = url;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "small";
    copy.textContent = "Copy";
    copy.setAttribute("aria-label", `Copy the URL for ${hook.event}`);
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(url);
        announce(`Copied the URL for ${hook.event}.`);
      } catch {
        announce("Select the URL and copy it.");
      }
    });
    cell.append(code, " ", copy);
    text(row.insertCell(), when(hook.lastReceivedAt));
    text(row.insertCell(), String(hook.count));
  }
}

// ------------------------------------------------------------------------------------------------------ step 6

async function sendTest() {
  const problem = $("test-problem");
  const result = $("test-result");
  problem.hidden = true;
  result.hidden = true;
  $("send-test").disabled = true;
  announce("Sending a test lead…");
  try {
    const lead = await api.call("POST", "test-lead", {});
    showTestResult(lead);
  } catch (e) {
    if (e instanceof ApiError && e.status === 422 && e.fields.length === 0 && e.message) {
      showProblem(problem, e);
    } else {
      showProblem(problem, e, () => sendTest());
    }
  } finally {
    $("send-test").disabled = !api.owner;
  }
}

function showTestResult(lead) {
  const result = $("test-result");
  result.replaceChildren();
  const env = state.status?.environment === "production" ? "production" : "integration";
  const base = APP[env];
  const ids = lead.servicetitan || {};
  const rows = [
    ["Customer", ids.customerId, `${base}/#/Customer/${ids.customerId}`],
    ["Location", ids.locationId, `${base}/#/Location/${ids.locationId}`],
    ["Job", ids.jobId, `${base}/#/Job/Index/${ids.jobId}`],
  ];
  for (const [label, id, href] of rows) {
    if (!id) continue;
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.dataset.id = label.toLowerCase();
    dd.append(externalLink(href, `${id} (open in ServiceTitan)`));
    result.append(dt, dd);
  }
  const dt = document.createElement("dt");
  dt.textContent = "Conversation note";
  const dd = document.createElement("dd");
  dd.textContent = (lead.notes || []).includes("conversation") ? "written on the customer and the job" : "not written";
  result.append(dt, dd);
  result.hidden = false;
  announce(`Test lead created: customer ${ids.customerId}, job ${ids.jobId}.`);
}

// ----------------------------------------------------------------------------------------------- everyday part

async function showRecipes() {
  const list = $("recipe-list");
  list.replaceChildren();
  let recipes;
  try {
    recipes = await api.get("recipes");
  } catch {
    return;
  }
  for (const r of recipes.recipes) {
    state.titles[r.id] = r.recipe.title;
    const li = document.createElement("li");
    const id = `recipe-${r.id}`;
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = id;
    input.checked = r.enabled;
    input.disabled = !api.owner || !state.settings;
    input.addEventListener("change", () => switchRecipe(r.id, input));
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = r.recipe.title;
    const p = document.createElement("p");
    p.className = "help";
    p.textContent = r.recipe.description;
    const wrap = document.createElement("div");
    const details = document.createElement("details");
    details.className = "recipe-details";
    details.id = `details-${r.id}`;
    const summary = document.createElement("summary");
    summary.textContent = "Steps, messages and the next 7 days";
    details.append(summary);
    details.addEventListener("toggle", () => {
      if (details.open && !details.dataset.loaded) {
        details.dataset.loaded = "1";
        showRecipeDetails(r, details);
      }
    });
    wrap.append(label, p, details);
    li.append(input, wrap);
    list.append(li);
  }
}

const CHANNELS = { sms: "Text", email: "Email", voice: "AI call" };
const CLASSES = {
  transactional: "transactional (about work the customer asked for)",
  solicitation: "sales follow-up (state rules on sales messages apply)",
  marketing: "marketing (strictest rules)",
};

// "PT24H" → "24 h after", "-PT18H" → "18 h before", "PT15M" → "15 min after".
function delayText(iso) {
  const m = /^(-)?P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?/.exec(iso || "");
  if (!m) return iso;
  const hours = Number(m[2] || 0) * 24 + Number(m[3] || 0);
  const mins = Number(m[4] || 0);
  const parts = [hours ? `${hours} h` : "", mins ? `${mins} min` : ""].filter(Boolean).join(" ") || "at once";
  return parts === "at once" ? parts : `${parts} ${m[1] ? "before" : "after"}`;
}

// The recipe's steps, each message editable by an owner with a live preview on made-up values; saving stores an
// override, the defaults bring the shipped wording back; and the 7-day preview of what would be sent.
async function showRecipeDetails(r, box) {
  const id = r.id;
  const klass = document.createElement("p");
  klass.className = "help";
  klass.textContent = `Message class: ${CLASSES[r.recipe.messageClass] || r.recipe.messageClass}.`;
  const form = document.createElement("form");
  form.noValidate = true;
  form.id = `override-${id}`;
  const steps = r.recipe.steps || [];
  steps.forEach((step, i) => {
    const field = document.createElement("div");
    field.className = "field";
    field.dataset.field = `/override/steps/${i}/template`;
    const label = document.createElement("label");
    const tid = `tpl-${id}-${step.id}`;
    label.htmlFor = tid;
    label.textContent = `Step ${i + 1}: ${CHANNELS[step.channel] || step.channel}, ${delayText(step.delay)}${step.enabled === false ? " (off)" : ""}`;
    const area = document.createElement("textarea");
    area.id = tid;
    area.rows = 3;
    area.value = step.template;
    area.readOnly = !api.owner;
    area.dataset.step = step.id;
    area.setAttribute("aria-describedby", `${tid}-sample ${tid}-error`);
    const sample = document.createElement("p");
    sample.id = `${tid}-sample`;
    sample.className = "sample";
    const error = document.createElement("p");
    error.id = `${tid}-error`;
    error.className = "error";
    field.append(label, area, sample, error);
    form.append(field);
  });
  const actions = document.createElement("div");
  actions.className = "actions";
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save messages";
  save.disabled = !api.owner;
  const reset = document.createElement("button");
  reset.type = "button";
  reset.textContent = "Back to the defaults";
  reset.disabled = !api.owner || !r.override;
  const saved = document.createElement("p");
  saved.setAttribute("aria-live", "polite");
  actions.append(save, reset);
  form.append(actions, saved);

  const preview = document.createElement("div");
  preview.className = "preview";
  const previewButton = document.createElement("button");
  previewButton.type = "button";
  previewButton.textContent = "Preview the next 7 days";
  previewButton.id = `preview-${id}`;
  const previewResult = document.createElement("div");
  previewResult.id = `preview-result-${id}`;
  previewResult.setAttribute("aria-live", "polite");
  preview.append(previewButton, previewResult);
  box.append(klass, form, preview);

  const areas = () => [...form.querySelectorAll("textarea")];
  const edited = () => ({ steps: areas().map((a) => ({ id: a.dataset.step, template: a.value })) });
  const render = async (override) => {
    clearErrors(form);
    try {
      const result = override
        ? await api.call("POST", `recipes/${id}/sample`, { override })
        : await api.get(`recipes/${id}/sample`);
      result.steps.forEach((s, i) => {
        const out = form.querySelector(`#tpl-${id}-${s.id}-sample`);
        const as = s.channel === "voice" ? "The AI caller is told" : "As sent";
        if (out) out.textContent = s.text ? `${as}: ${s.text}` : `Not sent: ${s.missing} has no value and no fallback`;
        if (i === 0) out?.setAttribute("data-first", "1");
      });
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) showErrors(form, e.fields.map((f) => [f.field.replace(/^(\/override\/steps\/\d+)\/.*$/, "$1/template"), f.reason]), null);
    }
  };
  let timer;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => render(edited()), 350);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // A live preview still waiting would only repeat what the save shows.
    clearTimeout(timer);
    try {
      await api.call("PUT", `recipes/${id}`, edited());
      await render(null);
      text(saved, "Saved: new follow-ups use these messages.").className = "ok";
      reset.disabled = false;
      announce("Messages saved.");
    } catch (e) {
      if (e instanceof ApiError && e.fields.length) {
        showErrors(form, e.fields.map((f) => [`/override${f.field}`.replace(/^(\/override\/steps\/\d+)\/.*$/, "$1/template"), f.reason]), null);
      }
      text(saved, e.message).className = "error";
      announce(e.message);
    }
  });
  reset.addEventListener("click", async () => {
    try {
      const back = await api.call("DELETE", `recipes/${id}`);
      (back.recipe.steps || []).forEach((s) => {
        const area = form.querySelector(`#tpl-${id}-${s.id}`);
        if (area) area.value = s.template;
      });
      reset.disabled = true;
      text(saved, "Back to the default messages.").className = "ok";
      announce("Back to the default messages.");
      await render(null);
    } catch (e) {
      text(saved, e.message).className = "error";
    }
  });
  previewButton.addEventListener("click", async () => {
    previewButton.disabled = true;
    text(previewResult, "Reading ServiceTitan…");
    try {
      const p = await api.get(`preview?days=7&recipes=${encodeURIComponent(id)}`);
      showPreview(previewResult, p);
    } catch (e) {
      showProblem(previewResult, e, () => previewButton.click());
    } finally {
      previewButton.disabled = false;
    }
  });
  await render(null);
}

function showPreview(box, p) {
  box.replaceChildren();
  const sends = p.sends || [];
  const going = sends.filter((s) => s.outcome !== "skipped").length;
  const reasons = Object.entries(p.byReason || {}).map(([r, n]) => `${r.replaceAll("_", " ")} ${n}`);
  const summary = document.createElement("p");
  summary.className = "preview-summary";
  summary.textContent = `In the next 7 days: ${plural(going, "message", "messages")} would go` +
    (reasons.length ? `; held back or moved: ${reasons.join(", ")}.` : ".");
  box.append(summary);
  if (sends.length === 0) return;
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-label", "Preview of the next 7 days");
  wrap.tabIndex = 0;
  const table = document.createElement("table");
  table.innerHTML = '<thead><tr><th scope="col">When</th><th scope="col">How</th><th scope="col">About</th><th scope="col">What the rules say</th></tr></thead><tbody></tbody>';
  const body = table.querySelector("tbody");
  for (const s of sends.slice(0, 20)) {
    const row = body.insertRow();
    text(row.insertCell(), when(s.at));
    text(row.insertCell(), CHANNELS[s.channel] || s.channel);
    text(row.insertCell(), s.entity);
    text(row.insertCell(), s.outcome === "send" ? "sent" : `${s.outcome}: ${(s.reason || "").replaceAll("_", " ")}`);
  }
  wrap.append(table);
  box.append(wrap);
}

async function switchRecipe(id, input) {
  const s = structuredClone(state.settings);
  const on = new Set(s.recipes || []);
  if (input.checked) on.add(id); else on.delete(id);
  s.recipes = [...on];
  const ok = await saveSettings(s, $("defaults-form"), $("recipes-problem"));
  if (!ok) {
    input.checked = !input.checked;
    $("recipes-problem").hidden = false;
    return;
  }
  announce(`${input.checked ? "Switched on" : "Switched off"}: ${input.labels[0].textContent}.`);
  await showWebhooks();
}

function card(title, value, detail) {
  const div = document.createElement("div");
  div.className = "card";
  const t = document.createElement("span");
  t.textContent = title;
  const big = document.createElement("span");
  big.className = "big";
  big.textContent = value;
  div.append(t, big);
  if (detail) {
    const d = document.createElement("span");
    d.className = "help";
    d.textContent = detail;
    div.append(d);
  }
  return div;
}

async function showActivity() {
  const status = state.status;
  if (!status) return;
  const fu = status.followUps || {};
  const feeds = status.reconcile?.feeds || [];
  const worstLag = feeds.reduce((m, f) => Math.max(m, f.lagSeconds || 0), 0);
  $("health").replaceChildren(
    card("ServiceTitan token", status.token?.health || "unknown", status.token?.lastError || ""),
    card(
      "Reconcile lag",
      `${Math.round(worstLag / 60)} min`,
      `last ${when(status.reconcile?.lastSuccessAt)}; ${feeds.map((f) => `${f.feed} ${Math.round((f.lagSeconds || 0) / 60)} min${f.lastError ? " (failing)" : ""}`).join(", ")}`,
    ),
    card("Follow-ups sent", String(fu.sends || 0), `${plural(fu.activeRuns || 0, "run", "runs")} active`),
    card("Estimates sold", `$${fu.revenue?.estimatesSold || "0.00"}`, "while a follow-up ran"),
    card("Invoices paid", `$${fu.revenue?.invoicesPaid || "0.00"}`, "while dunning ran"),
  );
  let runs = [];
  try {
    runs = (await api.get("runs")).runs || [];
  } catch {
    runs = [];
  }
  columns($("chart-sends"), fu.sendsByDay || [], recipeTitle, "Follow-ups sent per day, by recipe");
  const reasons = Object.entries(fu.suppressedBy || {}).map(([reason, n]) => [reason.replaceAll("_", " "), n]);
  bars($("chart-suppressed"), reasons, "Held back, by reason");
  const body = $("runs").querySelector("tbody");
  body.replaceChildren();
  for (const r of runs.slice(0, 50)) {
    const row = body.insertRow();
    row.dataset.recipe = r.recipe;
    text(row.insertCell(), recipeTitle(r.recipe));
    text(row.insertCell(), r.entity);
    text(row.insertCell(), r.status);
    text(row.insertCell(), String(r.sends));
    text(row.insertCell(), String(r.skips));
    text(row.insertCell(), (r.reason || "").replaceAll("_", " "));
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Timeline";
    button.setAttribute("aria-expanded", "false");
    button.addEventListener("click", () => toggleTimeline(row, r, button));
    row.insertCell().append(button);
  }
  if (runs.length === 0) text(body.insertRow().insertCell(), "No follow-ups have started yet.").colSpan = 7;
  await Promise.all([showLeads(), showParked()]);
  const list = $("opt-outs");
  list.replaceChildren();
  try {
    const optOuts = (await api.get("opt-outs")).optOuts || [];
    if (optOuts.length === 0) {
      const li = document.createElement("li");
      li.textContent = "Nobody has opted out.";
      list.append(li);
    }
    for (const o of optOuts) {
      const li = document.createElement("li");
      li.textContent = `${o.address}: ${o.channels.join(", ")}`;
      list.append(li);
    }
  } catch {
    // the ledger is not everyone's to read
  }
}

const ENTRIES = {
  enrolled: "started", not_enrolled: "not started", sent: "sent", deferred: "moved later", skipped: "held back",
  retry: "retried", failed: "failed", stalled: "set aside", halted: "stopped", finished: "finished",
};

// A run's timeline under its row: every step sent, moved, held back (with why) or stopped.
async function toggleTimeline(row, run, button) {
  const next = row.nextElementSibling;
  if (next?.classList.contains("timeline-row")) {
    next.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  const cell = row.parentElement.insertRow(row.sectionRowIndex + 1);
  cell.className = "timeline-row";
  const td = cell.insertCell();
  td.colSpan = 7;
  button.setAttribute("aria-expanded", "true");
  try {
    const t = await api.get(`runs?entity=${encodeURIComponent(run.entity)}`);
    const list = document.createElement("ol");
    list.className = "timeline";
    for (const e of (t.timeline || []).filter((e) => !e.runId || e.runId === run.runId)) {
      const li = document.createElement("li");
      li.dataset.entry = e.entry;
      let why = e.detail?.because || e.detail?.reason || e.detail?.error || "";
      if (typeof why === "object") why = Object.values(why).flat().join(", ");
      li.textContent = `${when(e.at)}: ${ENTRIES[e.entry] || e.entry}${e.step ? ` (${e.step})` : ""}${why ? ` — ${String(why).replaceAll("_", " ")}` : ""}`;
      list.append(li);
    }
    td.append(list);
  } catch (e) {
    text(td, e.message);
  }
}

// What a lead's match decision says, in words: which customer it matched and on what, or why it is a new one.
function decisionText(lead) {
  const d = lead.decision?.matched?.decision;
  if (!d) return lead.error?.message || (lead.status === "failed" ? "could not be created" : "");
  if (d.outcome === "existing") {
    const also = d.alsoMatched?.length ? `; also matched ${d.alsoMatched.join(", ")} (duplicates in ServiceTitan)` : "";
    return `matched customer ${d.customerId}: ${d.rule}${also}`;
  }
  const dup = d.possibleDuplicates?.length ? `; possible duplicates ${d.possibleDuplicates.join(", ")}, noted for review` : "";
  return `no customer shares enough with it${dup}`;
}

const OUTCOMES = {
  new_customer: "new customer and job",
  matched_customer: "new job for a customer you have",
  repeat_request: "a note on the open job (asked again)",
  booking: "booked",
  servicetitan_lead: "a ServiceTitan lead",
};

async function showLeads() {
  const body = $("leads").querySelector("tbody");
  body.replaceChildren();
  let leads = [];
  try {
    leads = (await api.get("leads?limit=20")).leads || [];
  } catch {
    leads = [];
  }
  const base = APP[state.status?.environment === "production" ? "production" : "integration"];
  for (const l of leads) {
    const row = body.insertRow();
    row.dataset.lead = l.leadId;
    text(row.insertCell(), when(l.receivedAt));
    text(row.insertCell(), l.source || "");
    text(row.insertCell(), OUTCOMES[l.outcome] || l.status);
    text(row.insertCell(), decisionText(l));
    const cell = row.insertCell();
    const id = l.servicetitan?.customerId;
    if (id) cell.append(externalLink(`${base}/#/Customer/${id}`, String(id)));
  }
  if (leads.length === 0) text(body.insertRow().insertCell(), "No leads yet.").colSpan = 5;
}

const QUEUES = {
  events: ["ServiceTitan event", "ServiceTitan events"],
  followUps: ["follow-up", "follow-ups"],
  schedules: ["scheduled follow-up", "scheduled follow-ups"],
  leads: ["lead", "leads"],
  reconcile: ["reconcile pass", "reconcile passes"],
};

async function showParked() {
  const list = $("parked");
  list.replaceChildren();
  let found;
  try {
    found = await api.get("dead-letters");
  } catch {
    $("redrive").disabled = true;
    return;
  }
  for (const q of found.queues.filter((q) => q.count > 0)) {
    const li = document.createElement("li");
    li.dataset.queue = q.queue;
    const reasons = [...new Set(q.samples.map((p) => p.reason).filter(Boolean))].slice(0, 3);
    li.textContent = `${plural(q.count, ...(QUEUES[q.queue] || [q.queue, q.queue]))}${q.complete ? "" : " or more"}${reasons.length ? `: ${reasons.join("; ")}` : ""}`;
    list.append(li);
  }
  if (found.total === 0) {
    const li = document.createElement("li");
    li.textContent = "Nothing is set aside.";
    list.append(li);
  }
  $("redrive").disabled = !api.owner || found.total === 0;
}

async function redrive() {
  $("redrive").disabled = true;
  try {
    const r = await api.call("POST", "dead-letters/redrive", {});
    text($("redrive-result"), `${plural(r.redriven, "item", "items")} sent through again.`).className = "ok";
    announce(`${plural(r.redriven, "item", "items")} sent through again.`);
  } catch (e) {
    text($("redrive-result"), e.message).className = "error";
    announce(e.message);
  }
  await showParked();
}

async function rerun(event) {
  event.preventDefault();
  const form = $("rerun-form");
  clearErrors(form);
  const from = $("rerunFrom").value;
  if (!from) {
    showErrors(form, [["/from", "choose a date"]], null);
    return;
  }
  try {
    const r = await api.call("POST", "reconcile", { from: `${from}T00:00:00Z` });
    text($("rerun-result"), `Queued: the feeds are read again from ${from}${r.feeds ? ` (${r.feeds.join(", ")})` : ""}.`).className = "ok";
    announce("Reconciliation queued.");
  } catch (e) {
    if (e instanceof ApiError && e.fields.length) {
      showErrors(form, e.fields.map((f) => [f.field, f.reason]), null);
    } else {
      text($("rerun-result"), e.message);
    }
  }
}

// -------------------------------------------------------------------------------------------------------- wiring

async function refreshEveryday() {
  try {
    state.status = await api.get("status");
  } catch {
    state.status = null;
  }
  // The activity names recipes by the titles the recipe list brings.
  await Promise.all([showWebhooks(), showRecipes().then(showActivity)]);
}

async function refresh() {
  try {
    state.status = await api.get("status");
  } catch (e) {
    state.status = null;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      showProblem($("connect-problem"), e);
      return;
    }
  }
  const connected = state.status?.connected === true;
  $("disconnect").hidden = !connected;
  if (connected) {
    setEnvironment(state.status.environment);
    text($("connection"), `Connected to ServiceTitan ${state.status.environment} since ${when(state.status.connectedAt)}.`).className = "ok";
    try {
      state.options = await api.get("servicetitan/options");
    } catch (e) {
      showProblem($("defaults-problem"), e, () => refresh());
    }
    try {
      state.settings = (await api.get("settings")).settings;
    } catch {
      state.settings = null;
    }
    showDefaults();
  } else {
    text($("connection"), "Not connected yet.").className = "";
  }
  for (const id of ["defaults-form", "step-webhooks", "step-test", "recipes", "activity"]) {
    $(id).toggleAttribute("inert", !connected);
    $(id).classList.toggle("waiting", !connected);
  }
  await refreshEveryday();
}

function start() {
  if (!api.signedIn) {
    text($("session"), "Open this page from your dashboard: it signs you in.");
    document.querySelectorAll("main input, main select, main button").forEach((n) => { n.disabled = true; });
    return;
  }
  text($("session"), `Signed in for ServiceTitan tenant ${api.tenant} as ${api.owner ? "owner" : "viewer"}.`);
  $("tenantId").value = api.tenant;
  if (!api.owner) {
    document.querySelectorAll("#connect-form input, #connect-form button, #defaults-form input, #defaults-form select, #defaults-form button, #send-test, #rerun, #rerunFrom, #redrive")
      .forEach((n) => { n.disabled = true; });
  }
  $("connect-form").addEventListener("submit", connect);
  $("disconnect").addEventListener("click", disconnect);
  $("businessUnitId").addEventListener("change", fillJobTypes);
  $("defaults-form").addEventListener("submit", saveDefaults);
  $("send-test").addEventListener("click", sendTest);
  $("rerun-form").addEventListener("submit", rerun);
  $("redrive").addEventListener("click", redrive);
  refresh();
}

start();
