// mrsm's dashboard: a jobs table and a page per job, over the server's own
// routes with the token the user gives (sent as a bearer header, kept in this
// tab's sessionStorage, never put in a URL). Everything from the server is put
// on the page as text (textContent, createTextNode), never as markup.
"use strict";

const TOKEN_KEY = "mrsm-token";
const REFRESH_MS = 2000;
const LOG_LINES_KEPT = 5000;
// A page that opens a log starts this many lines before its end.
const LOG_TAIL = 1000;
const CONFIRM_MS = 4000;
const CHART_RUNS = 60;

// What a token needs for each button, as the server's route table says.
const NEEDS = {
  start: ["jobs:execute"],
  stop: ["jobs:execute", "jobs:stop"],
  pause: ["jobs:execute", "jobs:pause"],
  restart: ["jobs:execute", "jobs:stop"],
  delete: ["jobs:execute", "jobs:stop", "jobs:delete"],
};

const session = { token: null, name: null, scopes: [] };
const table = { jobs: [], key: "name", descending: false, timer: null, loaded: false };
let follow = null;
let jobTimer = null;
// A delete asked for once, waiting for its confirmation: {job, until}.
let armed = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

let sayTimer = null;
let saidBy = null;

// Shows a message; one that only informs goes away by itself, and one a refresh
// failed with goes away when a refresh works again.
function say(text, kind, by) {
  const box = $("message");
  box.textContent = text || "";
  box.className = kind || "";
  box.hidden = !text;
  saidBy = text ? by || null : null;
  clearTimeout(sayTimer);
  if (kind === "info") sayTimer = setTimeout(() => say(""), 4000);
}

function refreshed() {
  if (saidBy === "refresh") say("");
}

// "2026-05-01 12:00:00 UTC" of an RFC 3339 UTC time.
function when(time) {
  return time ? String(time).slice(0, 19).replace("T", " ") + " UTC" : "";
}

// A run's result as `show jobs` says it.
function resultText(result) {
  if (!result) return "";
  return (result.ok ? "ok: " : result.stopped ? "stopped: " : "failed: ") + result.message;
}

function healthOf(job) {
  return job.health && job.status === "running" ? job.health.status : null;
}

function may(action) {
  if (session.scopes.includes("*")) return true;
  return NEEDS[action].every((s) => session.scopes.includes(s));
}

class Refused extends Error {}

// One call to the server; a token it no longer accepts logs the page out.
async function api(method, path) {
  let response;
  try {
    response = await fetch(path, {
      method,
      cache: "no-store",
      headers: { Authorization: "Bearer " + session.token },
    });
  } catch (e) {
    throw new Error("the server cannot be reached (" + e.message + ")");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) {
    logout("Logged out: the server no longer accepts this token (revoked or expired). Log in again.");
    throw new Refused("logged out");
  }
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : response.statusText;
    throw new Error(detail);
  }
  return body;
}

// ---- logging in and out ----

async function login(token) {
  session.token = token;
  let who;
  try {
    who = await api("GET", "/v1/whoami");
  } catch (e) {
    say(e instanceof Refused
      ? "Could not log in: the server does not accept that token (unknown, revoked or expired)."
      : "Could not log in: " + e.message);
    return;
  }
  session.name = who.token;
  session.scopes = who.scopes;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("who").textContent = "token " + who.token + " (" + who.scopes.join(", ") + ")";
  $("logout").hidden = false;
  say("");
  route();
}

function logout(why) {
  stopFollowing();
  clearInterval(table.timer);
  clearInterval(jobTimer);
  table.timer = null;
  jobTimer = null;
  table.loaded = false;
  session.token = null;
  session.scopes = [];
  sessionStorage.removeItem(TOKEN_KEY);
  $("who").textContent = "";
  $("logout").hidden = true;
  $("token").value = "";
  show("login");
  say(why || "");
}

function show(section) {
  for (const id of ["login", "jobs", "job"]) $(id).hidden = id !== section;
}

// ---- the jobs table ----

function sortValue(job, key) {
  switch (key) {
    case "pid": return job.pid || 0;
    case "runs": return job.runs || 0;
    case "last_result": return resultText(job.last_result);
    case "next_fire": return job.next_fire || "";
    default: return String(job[key] || "");
  }
}

function statusText(job) {
  const health = healthOf(job);
  return health ? job.status + " (" + health + ")" : job.status;
}

function statusBadge(job) {
  const look = healthOf(job) === "unhealthy" ? "unhealthy" : job.status;
  return el("span", statusText(job), "status status-" + look);
}

function actionButton(action, job, after) {
  const label = action.charAt(0).toUpperCase() + action.slice(1);
  const confirming = action === "delete" && armed && armed.job === job && Date.now() < armed.until;
  const button = el("button", confirming ? "Really delete?" : label);
  button.type = "button";
  button.dataset.action = action;
  button.dataset.job = job;
  button.addEventListener("click", () => act(action, job, button, after));
  return button;
}

// The buttons a job in this state gets, among those the token may use.
function actionsFor(job, all) {
  const over = job.status === "stopped" || job.status === "failed";
  const wanted = over ? ["start"] : job.status === "paused" ? ["start", "stop"] : ["stop", "pause"];
  if (all) wanted.push("restart", "delete");
  return wanted.filter(may);
}

function renderTable() {
  const needle = $("filter").value.trim().toLowerCase();
  const shown = table.jobs.filter((j) =>
    !needle || [j.name, statusText(j), j.executor].some((v) => String(v).toLowerCase().includes(needle)));
  const sign = table.descending ? -1 : 1;
  shown.sort((a, b) => {
    const x = sortValue(a, table.key), y = sortValue(b, table.key);
    return (x < y ? -1 : x > y ? 1 : 0) * sign || (a.name < b.name ? -1 : 1);
  });
  const body = document.createElement("tbody");
  for (const job of shown) {
    const row = document.createElement("tr");
    row.dataset.job = job.name;
    const name = el("td", null, "name");
    const link = el("a", job.name);
    link.href = "#/job/" + encodeURIComponent(job.name);
    name.appendChild(link);
    row.appendChild(name);
    row.appendChild(el("td", job.executor));
    const status = el("td", null, "status-cell");
    status.appendChild(statusBadge(job));
    row.appendChild(status);
    row.appendChild(el("td", job.pid || ""));
    row.appendChild(el("td", when(job.next_fire)));
    const outcome = !job.last_result ? "" : job.last_result.ok ? " ok" : job.last_result.stopped ? " stopped" : " failed";
    row.appendChild(el("td", resultText(job.last_result), "result" + outcome));
    row.appendChild(el("td", job.runs || 0));
    const actions = el("td", null, "actions");
    for (const action of actionsFor(job, false)) actions.appendChild(actionButton(action, job.name, refreshTable));
    row.appendChild(actions);
    body.appendChild(row);
  }
  $("jobs-table").replaceChild(body, $("jobs-table").tBodies[0]);
  $("count").textContent = shown.length + " of " + table.jobs.length + " jobs";
  for (const th of document.querySelectorAll("th[data-key]")) {
    th.className = th.dataset.key === table.key ? (table.descending ? "sorted-desc" : "sorted-asc") : "";
  }
  document.querySelector(".actions-head").hidden = !Object.keys(NEEDS).some(may);
}

async function refreshTable() {
  try {
    table.jobs = await api("GET", "/v1/jobs");
    renderTable();
    // The first table on screen (bench/dashboard.py reads it).
    if (!table.loaded) performance.mark("mrsm-first-table");
    table.loaded = true;
    $("jobs-table").dataset.loaded = "1";
    refreshed();
  } catch (e) {
    if (!(e instanceof Refused)) say("Could not list the jobs: " + e.message, "", "refresh");
  }
}

async function act(action, job, button, after) {
  if (action === "delete" && !(armed && armed.job === job && Date.now() < armed.until)) {
    armed = { job, until: Date.now() + CONFIRM_MS };
    button.textContent = "Really delete?";
    setTimeout(() => { if (button.isConnected && !(armed && Date.now() < armed.until)) button.textContent = "Delete"; }, CONFIRM_MS);
    return;
  }
  armed = null;
  button.disabled = true;
  const path = "/v1/jobs/" + encodeURIComponent(job);
  try {
    if (action === "delete") {
      clearInterval(jobTimer);
      jobTimer = null;
      shown += 1;
      stopFollowing();
      await api("DELETE", path);
      location.hash = "#/";
      say("Deleted " + job + " (its log and run history are kept).", "info");
      return;
    } else if (action === "restart") {
      await api("POST", path + "/stop");
      await api("POST", path + "/start");
    } else {
      await api("POST", path + "/" + action);
    }
    say(action + ": " + job, "info");
  } catch (e) {
    if (!(e instanceof Refused)) say(action + " " + job + " failed: " + e.message);
  } finally {
    button.disabled = false;
    if (after) after();
  }
}

// ---- a job's page ----

function fact(list, term, value) {
  list.appendChild(el("dt", term));
  list.appendChild(el("dd", value === undefined || value === null || value === "" ? "\u2014" : value));
}

function renderJob(job) {
  const facts = document.createElement("dl");
  facts.id = "job-facts";
  fact(facts, "Status", statusText(job));
  fact(facts, "Executor", job.executor);
  fact(facts, "Command", (job.command || []).join("\n"));
  fact(facts, "Schedule", job.schedule);
  fact(facts, "Time zone", job.timezone);
  fact(facts, "Restart", typeof job.restart === "object" ? JSON.stringify(job.restart) : job.restart);
  fact(facts, "PID", job.pid);
  fact(facts, "Runs started", job.runs || 0);
  fact(facts, "Restarts", job.restarts);
  fact(facts, "Last result", resultText(job.last_result));
  fact(facts, "Reason", job.reason);
  $("job-facts").replaceWith(facts);
  const actions = $("job-actions");
  actions.replaceChildren();
  for (const action of actionsFor(job, true)) actions.appendChild(actionButton(action, job.name, () => refreshJob(job.name)));
}

const SVG = "http://www.w3.org/2000/svg";

function renderChart(history) {
  const chart = $("chart");
  chart.replaceChildren();
  const runs = history.runs.slice(-CHART_RUNS);
  const width = 300, height = 120, slot = width / CHART_RUNS;
  const seconds = runs.map((r) => Math.max(0, (Date.parse(r.ended) - Date.parse(r.started)) / 1000));
  const top = Math.log10(1 + Math.max(1, ...seconds));
  runs.forEach((run, i) => {
    const h = 8 + (height - 12) * Math.log10(1 + seconds[i]) / top;
    const bar = document.createElementNS(SVG, "rect");
    bar.setAttribute("x", String(i * slot + 1));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", String(Math.max(2, slot - 2)));
    bar.setAttribute("height", String(h));
    const outcome = run.ok ? "success" : run.stopped ? "stopped" : "failure";
    bar.setAttribute("class", "bar-" + outcome);
    const title = document.createElementNS(SVG, "title");
    title.textContent = "run " + run.run + ": " + seconds[i].toFixed(2) + " s, " + outcome + " \u2014 " + run.message;
    bar.appendChild(title);
    chart.appendChild(bar);
  });
  $("chart-note").textContent = runs.length
    ? "The last " + runs.length + " runs: height is duration (log scale); green succeeded, red failed, grey stopped."
    : "No finished run yet.";
}

function renderFires(answer) {
  const list = $("fires");
  list.replaceChildren();
  if (!answer.schedule) { list.appendChild(el("li", "No schedule.")); return; }
  for (const fire of answer.fires) list.appendChild(el("li", when(fire)));
  if (!answer.fires.length) list.appendChild(el("li", answer.running ? "It never fires again." : "None: the job is not running."));
}

// Which page is shown: answers that come back for a page left meanwhile (a job
// just deleted, say) are dropped.
let shown = 0;

async function refreshJob(name) {
  const page = shown;
  const path = "/v1/jobs/" + encodeURIComponent(name);
  try {
    const job = await api("GET", path);
    const runs = await api("GET", path + "/runs");
    const fires = await api("GET", path + "/fires?count=5");
    if (page !== shown) return;
    renderJob(job);
    renderChart(runs);
    renderFires(fires);
    refreshed();
  } catch (e) {
    if (page === shown && !(e instanceof Refused)) say("Job " + name + ": " + e.message, "", "refresh");
  }
}

// ---- the live log, over the logs WebSocket, resumed from its cursor ----

function logState(text) { $("log-state").textContent = text; }

// Lines are put on the page once per frame, however fast they come.
let pending = [];
let drawing = false;

function appendLine(frame) {
  pending.push(frame);
  if (pending.length > LOG_LINES_KEPT) pending.splice(0, pending.length - LOG_LINES_KEPT);
  if (!drawing) {
    drawing = true;
    requestAnimationFrame(drawLines);
  }
}

function drawLines() {
  drawing = false;
  const log = $("log");
  const batch = document.createDocumentFragment();
  for (const frame of pending) {
    const line = el("div", null, frame.stream);
    line.appendChild(el("span", String(frame.stamp || "").slice(11, 23) + " ", "stamp"));
    line.appendChild(el("span", frame.text, "text"));
    batch.appendChild(line);
  }
  pending = [];
  log.appendChild(batch);
  while (log.childElementCount > LOG_LINES_KEPT) log.firstElementChild.remove();
  if (!$("pause-scroll").checked) log.scrollTop = log.scrollHeight;
}

function stopFollowing() {
  if (!follow) return;
  follow.closed = true;
  clearTimeout(follow.timer);
  if (follow.socket) follow.socket.close();
  follow = null;
}

function startFollowing(name) {
  stopFollowing();
  $("log").replaceChildren();
  pending = [];
  // No cursor yet: the first connection asks for the log's tail.
  follow = { name, cursor: null, socket: null, closed: false, ended: false, retries: 0, timer: null };
  connect(follow);
}

function connect(f) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(scheme + "//" + location.host + "/logs/" + encodeURIComponent(f.name) + "/ws");
  f.socket = socket;
  socket.addEventListener("open", () => {
    const where = f.cursor === null ? { tail: LOG_TAIL } : { cursor: f.cursor };
    socket.send(JSON.stringify(Object.assign({ token: session.token }, where)));
    if (!f.ended) logState("following");
  });
  socket.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch (e) { frame = null; }
    if (!frame || typeof frame !== "object") { logState(String(event.data)); return; }
    if (frame.error) { logState(frame.error); return; }
    if (frame.reset) {
      // The log began anew (the job was made again): shown from its tail.
      $("log").replaceChildren();
      pending = [];
      f.cursor = null;
      logState("the job's log began anew");
      return;
    }
    if (frame.end) {
      f.ended = true;
      logState("the job is not running (" + frame.message + "); its log goes on here when it runs again");
      return;
    }
    if (typeof frame.cursor !== "number" || (f.cursor !== null && frame.cursor <= f.cursor)) return;
    if (f.ended) { f.ended = false; logState("following"); }
    f.cursor = frame.cursor;
    f.retries = 0;
    appendLine(frame);
  });
  socket.addEventListener("close", (event) => {
    if (f.closed || follow !== f) return;
    if (event.code === 1008) {
      if (/revoked|expired|invalid credentials/.test(event.reason)) {
        logout("Logged out: the server no longer accepts this token (" + event.reason + "). Log in again.");
        return;
      }
      logState("the server refused to follow this log (" + event.reason + ")");
      // A token without the scopes will not get them by asking again; anything
      // else (tokens that cannot be read now, too many followers) may pass later.
      if (/forbidden|bad first frame/.test(event.reason)) return;
      f.timer = setTimeout(() => { if (!f.closed && follow === f) connect(f); }, 5000);
      return;
    }
    const delay = f.ended ? REFRESH_MS : Math.min(5000, 250 * 2 ** f.retries++);
    if (!f.ended) logState("disconnected; reconnecting");
    f.timer = setTimeout(() => { if (!f.closed && follow === f) connect(f); }, delay);
  });
}

// ---- where the page is ----

function route() {
  shown += 1;
  if (!session.token) { show("login"); return; }
  clearInterval(table.timer);
  clearInterval(jobTimer);
  table.timer = null;
  jobTimer = null;
  const match = /^#\/job\/(.+)$/.exec(location.hash);
  if (match) {
    let name;
    try { name = decodeURIComponent(match[1]); } catch (e) { name = match[1]; }
    show("job");
    $("job-name").textContent = name;
    // Nothing of the job shown before stays under this one's name.
    $("job-actions").replaceChildren();
    $("job-facts").replaceChildren();
    $("chart").replaceChildren();
    $("chart-note").textContent = "";
    $("fires").replaceChildren();
    refreshJob(name);
    jobTimer = setInterval(() => refreshJob(name), REFRESH_MS);
    startFollowing(name);
    return;
  }
  stopFollowing();
  show("jobs");
  refreshTable();
  table.timer = setInterval(refreshTable, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) login(token);
  });
  $("logout").addEventListener("click", () => logout("Logged out."));
  $("filter").addEventListener("input", renderTable);
  for (const th of document.querySelectorAll("th[data-key]")) {
    th.addEventListener("click", () => {
      table.descending = table.key === th.dataset.key ? !table.descending : false;
      table.key = th.dataset.key;
      renderTable();
    });
  }
  window.addEventListener("hashchange", route);
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) login(kept); else show("login");
});
