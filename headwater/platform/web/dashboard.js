// The dashboard page: logs in with an API key (kept in an HttpOnly cookie by the server), then shows one page at a
// time (#models, #jobs, #requests, #footprint) and refreshes it every two seconds. The jobs page starts judge jobs
// from a form and opens a job's report in the page. Data goes into the page as text only; the footprint charts are
// SVG the server drew (and escaped); an HTML report is shown in a sandboxed frame (no scripts, no origin).
"use strict";

const POLL_MS = 2000;
const PAGES = ["models", "jobs", "requests", "footprint"];
const $ = (id) => document.getElementById(id);
let selectedJob = null;
let timer = null;
let generation = 0;  // a refresh started later supersedes an earlier one still waiting for its data

async function api(path, options = {}) {
  const response = await fetch("/dashboard/api/" + path, {
    headers: { "Content-Type": "application/json" }, ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function fill(tableId, items, addRow) {
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  for (const item of items) addRow(body.insertRow(), item);
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const seconds = (value) => (value === null || value === undefined ? "" : value.toFixed(3));

async function showModels() {
  const data = await api("models");
  fill("models", data.models, (row, m) => {
    cell(row, m.name);
    cell(row, m.model);
    cell(row, m.tes);
    cell(row, Object.entries(m.states).map(([s, n]) => `${n} ${s}`).join(", ") || "scaled to zero");
    cell(row, m.running);
    cell(row, m.waiting);
    cell(row, `${m.min_tes}–${m.max_tes}`);
    cell(row, m.policy);
  });
  $("admin-models").classList.toggle("hidden", data.pool === null);
  if (data.pool === null) return;
  const executors = data.models.flatMap((m) => m.executors.map((te) => ({ model: m.name, ...te })));
  fill("executors", executors, (row, te) => {
    cell(row, te.model);
    cell(row, te.id);
    cell(row, te.state, "state-" + te.state);
    cell(row, te.pid);
    cell(row, te.in_flight);
    cell(row, te.load.running);
    cell(row, te.load.waiting);
  });
  fill("pool", data.pool, (row, te) => {
    cell(row, te.id);
    cell(row, te.state, "state-" + te.state);
    cell(row, te.pid);
  });
}

async function fillJudgeModels() {
  const select = $("judge-model");
  if (select.options.length) return;
  const data = await api("models");
  for (const m of data.models) select.add(new Option(m.name, m.name));
}

async function showJobs() {
  await fillJudgeModels();
  const data = await api("jobs");
  fill("jobs", data.jobs, (row, job) => {
    row.className = "clickable" + (job.id === selectedJob ? " selected" : "");
    row.dataset.id = job.id;
    row.addEventListener("click", () => { selectJob(job.id); refresh(); });
    cell(row, job.id);
    cell(row, job.kind);
    cell(row, job.model);
    cell(row, job.state, "state-" + job.state);
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.progress;
    cell(row, "").append(bar, ` ${Math.round(job.progress * 100)} %`);
    cell(row, time(job.created_at));
  });
  if (selectedJob) await showJob(selectedJob);
}

async function showJob(id) {
  const job = await api("jobs/" + encodeURIComponent(id));
  $("job").classList.remove("hidden");
  $("job-title").textContent = `${job.kind} job ${job.id}`;
  $("job-state").textContent = `${job.state}` + (job.error ? `: ${job.error}` : "") +
    ` · model ${job.model} · created ${time(job.created_at)}` + (job.finished_at ? ` · finished ${time(job.finished_at)}` : "");
  $("job-state").className = "state-" + job.state;
  $("job-progress").value = job.progress;
  $("job-percent").textContent = `${Math.round(job.progress * 100)} %`;
  $("job-result").textContent = Object.keys(job.result).length ? JSON.stringify(job.result, null, 2) : "when it finishes";
  $("job-files").replaceChildren(...job.files.map((file) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = "/dashboard/api/files/" + encodeURIComponent(file.id);
    link.textContent = file.filename;
    link.setAttribute("download", file.filename);
    const open = document.createElement("button");
    open.textContent = "Open";
    open.className = "open-file";
    open.dataset.role = file.role;
    open.addEventListener("click", () => openFile(file));
    item.append(`${file.role}: `, link, ` (${file.bytes} bytes)`, open);
    return item;
  }));
  if (!job.files.length) $("job-files").textContent = job.state === "succeeded" ? "none" : "when it finishes";
  $("job-events").replaceChildren(...job.events.map((event) => {
    const item = document.createElement("li");
    item.className = "level-" + event.level;
    item.textContent = `${time(event.at)}  ${event.message}`;
    return item;
  }));
}

function selectJob(id) {
  if (id !== selectedJob) {
    $("report").classList.add("hidden");
  }
  selectedJob = id;
}

async function openFile(file) {
  const response = await fetch("/dashboard/api/files/" + encodeURIComponent(file.id) + "?inline=true");
  if (!response.ok) {
    $("error").textContent = `cannot open ${file.filename}: ${response.statusText}`;
    return;
  }
  const text = await response.text();
  $("report").classList.remove("hidden");
  $("report-title").textContent = `${file.role}: ${file.filename}`;
  const html = file.filename.endsWith(".html");
  $("report-frame").classList.toggle("hidden", !html);
  $("report-text").classList.toggle("hidden", html);
  if (html) {
    $("report-frame").srcdoc = text;  // sandboxed: no scripts, an opaque origin
    return;
  }
  let shown = text;
  try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* JSONL or text: as it is */ }
  $("report-text").textContent = shown;
}

async function startJudgeJob(event) {
  event.preventDefault();
  const chosen = $("judge-file").files[0];
  const items = chosen ? await chosen.text() : $("judge-items").value;
  try {
    const job = await api("judgements", {
      method: "POST",
      body: JSON.stringify({
        model: $("judge-model").value, kind: $("judge-kind").value, items,
        max_tokens: Number($("judge-max-tokens").value),
      }),
    });
    $("judge-items").value = "";
    $("judge-file").value = "";
    selectJob(job.id);
    $("error").textContent = "";
    refresh();
  } catch (error) {
    $("error").textContent = error.message;
  }
}

async function showRequests() {
  const data = await api("requests");
  fill("requests", data.requests, (row, r) => {
    cell(row, time(r.created_at));
    cell(row, r.kind);
    cell(row, r.model);
    cell(row, r.state, "state-" + r.state);
    cell(row, r.prompt_tokens);
    cell(row, r.completion_tokens);
    cell(row, seconds(r.ttft_s));
    cell(row, seconds(r.e2e_s));
  });
}

async function showFootprint() {
  const choice = $("criterion").value || "gwp_kgco2e";
  const data = await api("footprint?criterion=" + encodeURIComponent(choice));
  if (!$("criterion").options.length) {
    for (const name of data.criteria) $("criterion").add(new Option(name, name, false, name === data.criterion));
  }
  $("footprint-total").textContent = `${data.requests} requests`;
  $("chart-day").innerHTML = data.charts.per_day;  // SVG drawn and escaped by the server
  $("chart-model").innerHTML = data.charts.per_model;
}

const SHOW = { models: showModels, jobs: showJobs, requests: showRequests, footprint: showFootprint };

function currentPage() {
  const name = location.hash.slice(1);
  return PAGES.includes(name) ? name : "models";
}

async function refresh() {
  clearTimeout(timer);
  const mine = ++generation;
  const name = currentPage();
  for (const page of PAGES) $(page + "-page").classList.toggle("hidden", page !== name);
  for (const link of document.querySelectorAll("nav a[data-page]")) {
    link.classList.toggle("active", link.dataset.page === name);
  }
  try {
    await SHOW[name]();
    $("error").textContent = "";
  } catch (error) {
    if (error.status === 401) return showLogin();
    $("error").textContent = error.message;
  }
  if (mine === generation) timer = setTimeout(refresh, POLL_MS);
}

function showLogin() {
  clearTimeout(timer);
  generation++;
  $("login-view").classList.remove("hidden");
  $("nav").classList.add("hidden");
  $("logout").classList.add("hidden");
  $("who").textContent = "";
  for (const page of PAGES) $(page + "-page").classList.add("hidden");
}

function showApp(me) {
  $("login-view").classList.add("hidden");
  $("nav").classList.remove("hidden");
  $("logout").classList.remove("hidden");
  $("who").textContent = me.tenant + (me.admin ? " (admin)" : "");
  refresh();
}

async function logIn() {
  try {
    showApp(await api("login", { method: "POST", body: JSON.stringify({ key: $("key").value }) }));
    $("key").value = "";
    $("error").textContent = "";
  } catch (error) {
    $("error").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login").addEventListener("click", logIn);
  $("key").addEventListener("keydown", (event) => { if (event.key === "Enter") logIn(); });
  $("logout").addEventListener("click", async () => { await api("logout", { method: "POST" }); showLogin(); });
  $("criterion").addEventListener("change", refresh);
  $("judge-form").addEventListener("submit", startJudgeJob);
  window.addEventListener("hashchange", () => { selectJob(null); $("job").classList.add("hidden"); refresh(); });
  try {
    showApp(await api("me"));
  } catch (error) {
    showLogin();
  }
});
