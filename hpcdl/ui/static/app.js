// hpcdl web UI: a small single-page app over the read-only JSON API (no external libraries).
// Every value from the server goes into the page through textContent / attributes, never as HTML.
"use strict";

const POLL_MS = 1000;
const SVG_NS = "http://www.w3.org/2000/svg";
const state = { info: null, timer: null, route: null, chartMetric: null, lastModelKey: null, lost: false };

// ---- small helpers --------------------------------------------------------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat()) if (c) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}
const isNum = (x) => typeof x === "number" && isFinite(x);
function fmt(x, digits = 4) {
  if (x === null || x === undefined) return "–";
  if (typeof x === "boolean") return x ? "true" : "false";
  if (Array.isArray(x)) return "[" + x.map((v) => fmt(v, digits)).join(", ") + "]";
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en-US");
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return x.toLocaleString("en-US", { maximumSignificantDigits: digits });
}
function fmtParam(v) {  // parameters as written in a job file: no digit grouping
  if (v === null || v === undefined) return "–";
  if (Array.isArray(v)) return "[" + v.map(fmtParam).join(", ") + "]";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}
function fmtInt(x) { return isNum(x) ? Math.round(x).toLocaleString("en-US") : "–"; }
function fmtDuration(sec) {
  if (!isNum(sec)) return "–";
  sec = Math.max(0, Math.round(sec));
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  return hh ? `${hh}h ${mm}m` : mm ? `${mm}m ${ss}s` : `${ss}s`;
}
function fmtBytes(n) {
  if (!isNum(n)) return "";
  const u = ["B", "KB", "MB", "GB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}
const keyPath = (key) => key.split("/").map(encodeURIComponent).join("/");
const badge = (status) => h("span", { class: `badge ${status || ""}` }, status || "unknown");
function progressBar(p, done) {
  const pct = isNum(p) ? Math.round(p * 1000) / 10 : 0;
  return h("div", { class: "progress" + (done ? " done" : ""), title: `${pct}%` }, h("span", { style: `width:${pct}%` }));
}
function stat(label, value) { return h("div", { class: "stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value)); }
function table(columns, rows, opts = {}) {
  return h("table", { class: opts.class || null },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.text ? "text" : null }, c.label)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", { class: opts.rowClass ? opts.rowClass(r) : null },
      columns.map((c) => h("td", { class: c.text ? "text" : null }, c.cell ? c.cell(r) : fmt(r[c.key])))))
      : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, opts.empty || "nothing here"))));
}
function card(title, ...body) { return h("section", { class: "card" }, title ? h("h2", {}, title) : null, ...body); }

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || `${r.status}`); e.status = r.status; throw e; }
  return body;
}
function banner(text) {
  const b = document.getElementById("banner");
  b.hidden = !text; b.textContent = text || "";
}

// ---- chart: training and validation error against epochs ------------------
function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1); }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const t0 = Math.floor(lo / step) * step, t1 = Math.ceil(hi / step) * step, ticks = [];
  for (let t = t0; t <= t1 + step / 2; t += step) ticks.push(Math.round(t / step) * step);
  return ticks;
}
function historyChart(model) {
  const hist = model.history || {};
  const metrics = Object.keys(hist).filter((k) => k.startsWith("training_")).map((k) => k.slice(9));
  let metric = state.chartMetric && metrics.includes(state.chartMetric) ? state.chartMetric : model.chart_metric;
  if (!metrics.includes(metric)) metric = metrics[0];
  const select = h("select", { id: "chart-metric", onchange: (e) => { state.chartMetric = e.target.value; rerenderChart(model); } },
    metrics.map((m) => h("option", { value: m, selected: m === metric }, m.replace(/_/g, " "))));
  const wrap = h("section", { class: "card", id: "history-card" },
    h("div", { class: "chart-head" }, h("h2", {}, "Scoring history"), metrics.length ? select : null),
    drawChart(hist, metric));
  return wrap;
}
function rerenderChart(model) {
  const old = document.getElementById("history-chart");
  if (old) old.replaceWith(drawChart(model.history || {}, state.chartMetric));
}
function drawChart(hist, metric) {
  const W = 640, H = 300, m = { l: 58, r: 16, t: 12, b: 40 };
  const xs = hist.epochs || [];
  const series = [["train", "training", hist["training_" + metric]], ["valid", "validation", hist["validation_" + metric]]]
    .filter(([, , ys]) => ys && ys.some(isNum));
  const pts = series.map(([cls, label, ys]) => [cls, label, xs.map((x, i) => [x, ys[i]]).filter(([x, y]) => isNum(x) && isNum(y))]);
  const n = pts.length ? pts[0][2].length : 0;
  const svg = s("svg", { class: "chart", id: "history-chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "data-points": String(n), "data-metric": metric || "", "aria-label": `${metric} against epochs` });
  if (!n) {
    svg.appendChild(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "waiting for the first scoring event…"));
    return h("div", {}, svg);
  }
  const all = pts.flatMap(([, , p]) => p);
  const xt = niceTicks(Math.min(0, ...all.map((p) => p[0])), Math.max(...all.map((p) => p[0])), 6);
  let ylo = Math.min(...all.map((p) => p[1])), yhi = Math.max(...all.map((p) => p[1]));
  if (ylo >= 0 && ylo < (yhi - ylo) * 0.6) ylo = 0; // errors: start at zero unless that squashes the curve
  const yt = niceTicks(ylo, yhi, 5);
  const [x0, x1, y0, y1] = [xt[0], xt[xt.length - 1], yt[0], yt[yt.length - 1]];
  const X = (x) => m.l + (x - x0) / (x1 - x0 || 1) * (W - m.l - m.r);
  const Y = (y) => H - m.b - (y - y0) / (y1 - y0 || 1) * (H - m.t - m.b);
  const grid = s("g", { class: "grid" }), axis = s("g", { class: "axis" });
  for (const t of yt) {
    grid.appendChild(s("line", { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t) }));
    axis.appendChild(s("text", { x: m.l - 8, y: Y(t) + 4, "text-anchor": "end" }, fmt(t, 3)));
  }
  for (const t of xt) {
    grid.appendChild(s("line", { x1: X(t), x2: X(t), y1: m.t, y2: H - m.b }));
    axis.appendChild(s("text", { x: X(t), y: H - m.b + 16, "text-anchor": "middle" }, fmt(t, 4)));
  }
  axis.appendChild(s("line", { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b }));
  axis.appendChild(s("line", { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b }));
  axis.appendChild(s("text", { x: (m.l + W - m.r) / 2, y: H - 6, "text-anchor": "middle" }, "epochs"));
  axis.appendChild(s("text", { x: 14, y: (m.t + H - m.b) / 2, "text-anchor": "middle",
    transform: `rotate(-90 14 ${(m.t + H - m.b) / 2})` }, metric.replace(/_/g, " ")));
  svg.append(grid, axis);
  for (const [cls, label, p] of pts) {
    svg.appendChild(s("polyline", { class: cls, points: p.map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`).join(" ") }));
    const dots = s("g", { class: "points" });
    const r = p.length > 80 ? 1.6 : 3;
    for (const [x, y] of p) dots.appendChild(s("circle", { class: cls, cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r },
      s("title", {}, `${label} ${metric}: ${fmt(y, 5)} at epoch ${fmt(x, 5)}`)));
    svg.appendChild(dots);
  }
  const legend = h("div", { class: "legend" }, pts.map(([cls, label]) =>
    h("span", {}, h("i", { style: `background:var(--${cls === "train" ? "train" : "valid"})` }), label)));
  const box = h("div", { id: "history-chart-box" }, svg, legend);
  return box;
}

// ---- model sections ---------------------------------------------------------
function metricsCard(model) {
  const tm = model.training_metrics, vm = model.validation_metrics;
  const keys = [...new Set([...Object.keys((tm || {}).scalars || {}), ...Object.keys((vm || {}).scalars || {})])];
  const rows = keys.map((k) => ({ k, t: tm && tm.scalars[k], v: vm && vm.scalars[k] }));
  const cols = [{ label: "metric", key: "k", text: true }, { label: "training", key: "t" }];
  if (vm) cols.push({ label: "validation", key: "v" });
  const parts = [table(cols, rows, { empty: "no metrics yet" })];
  for (const [name, m] of [["training", tm], ["validation", vm]]) {
    if (m && m.confusion_matrix) parts.push(h("h3", {}, `Confusion matrix (${name})` +
      (isNum(m.confusion_matrix.threshold) ? ` at threshold ${fmt(m.confusion_matrix.threshold)}` : "")),
      confusionMatrix(m.confusion_matrix));
  }
  return card("Metrics", ...parts);
}
function confusionMatrix(cm) {
  const L = cm.labels, M = cm.matrix, K = L.length;
  if (K > 30) return h("p", { class: "muted" }, `${K} classes: too many to show`);
  const head = h("tr", {}, h("th", { class: "text" }, "actual \\ predicted"), L.map((l) => h("th", {}, l)), h("th", {}, "Error"), h("th", {}, "Rate"));
  const colTot = new Array(K).fill(0);
  let totErr = 0, tot = 0;
  const rows = M.map((row, i) => {
    const n = row.reduce((a, b) => a + b, 0), err = n - row[i];
    row.forEach((v, j) => { colTot[j] += v; });
    totErr += err; tot += n;
    return h("tr", {}, h("td", { class: "text" }, L[i]),
      row.map((v, j) => h("td", { class: i === j ? "hit" : v ? "miss" : null, style: `--a:${n ? (0.08 + 0.45 * v / n).toFixed(2) : 0}` }, fmtInt(v))),
      h("td", { class: "total" }, n ? (err / n).toFixed(4) : "–"), h("td", { class: "total" }, `${fmtInt(err)} / ${fmtInt(n)}`));
  });
  const total = h("tr", { class: "total" }, h("td", { class: "text" }, "Totals"), colTot.map((v) => h("td", {}, fmtInt(v))),
    h("td", {}, tot ? (totErr / tot).toFixed(4) : "–"), h("td", {}, `${fmtInt(totErr)} / ${fmtInt(tot)}`));
  return h("table", { class: "cm" }, h("thead", {}, head), h("tbody", {}, rows, total));
}
function varimpCard(model) {
  const vi = model.variable_importances || [];
  if (!vi.length) return card("Variable importances", h("p", { class: "muted" },
    model.status === "running" || model.status === "starting" ? "computed at scoring events (variable_importances=true)" : "not computed (variable_importances=false)"));
  const top = vi.slice(0, 20);
  const max = Math.max(...top.map((r) => r.scaled_importance || 0), 1e-12);
  const rows = top.flatMap((r) => [h("div", { class: "name", title: r.variable }, r.variable),
    h("div", { class: "bar" }, h("span", { style: `width:${(100 * (r.scaled_importance || 0) / max).toFixed(1)}%` })),
    h("div", { class: "val" }, isNum(r.percentage) ? (100 * r.percentage).toFixed(1) + " %" : fmt(r.scaled_importance))]);
  const more = model.n_variable_importances > top.length ? h("p", { class: "muted" }, `top ${top.length} of ${model.n_variable_importances}`) : null;
  return card("Variable importances", h("div", { class: "varimp", id: "varimp" }, rows), more);
}
function layersCard(model) {
  const cols = [{ label: "layer", key: "layer" }, { label: "units", key: "units" }, { label: "type", key: "type", text: true },
    { label: "dropout", key: "dropout" }, { label: "l1", key: "l1" }, { label: "l2", key: "l2" }, { label: "mean rate", key: "mean_rate" },
    { label: "weight mean", key: "weight_mean" }, { label: "weight RMS", key: "weight_rms" }, { label: "bias mean", key: "bias_mean" },
    { label: "bias RMS", key: "bias_rms" }];
  return card(`Layers — ${model.kind}, ${fmtInt(model.n_weights)} weights/biases`, table(cols, model.layers || []));
}
function paramsCard(model) {
  const ps = (model.parameters || []).slice().sort((a, b) => (b.user_given - a.user_given));
  const user = ps.filter((p) => p.user_given);
  const cols = [{ label: "parameter", key: "name", text: true }, { label: "value", key: "value", text: true, cell: (r) => fmtParam(r.value) }];
  const rowClass = (r) => (r.user_given ? "user" : null);
  return card("Parameters",
    user.length ? table(cols, user, { rowClass }) : h("p", { class: "muted" }, "all parameters at their defaults"),
    h("details", {}, h("summary", {}, `all ${ps.length} effective parameters`), table(cols, ps, { rowClass })));
}
function downloadsCard(model) {
  const d = model.downloads || [];
  return card("Downloads", d.length ? h("ul", { class: "downloads" }, d.map((f) => h("li", {},
    h("a", { href: "/download/" + keyPath(f.key), download: f.name }, f.name),
    h("span", { class: "muted" }, `${f.kind} · ${fmtBytes(f.size)}`)))) :
    h("p", { class: "muted" }, model.live ? "the model file appears here when the job has saved it" : "no files"));
}
function modelSections(model) {
  return [
    h("div", { class: "columns" },
      h("div", { class: "stack" }, historyChart(model), varimpCard(model)),
      h("div", { class: "stack" }, metricsCard(model), downloadsCard(model))),
    h("div", { class: "stack" }, layersCard(model), paramsCard(model)),
  ];
}

// ---- pages ------------------------------------------------------------------
function progressCard(job) {
  const done = job.status === "finished";
  const p = isNum(job.progress) ? job.progress : done ? 1 : 0;
  const eta = job.status === "running" ? fmtDuration(job.eta_seconds) : done ? "done" : "–";
  return card(null,
    h("div", { class: "progress-row", id: "job-progress" }, progressBar(p, done), h("span", { class: "pct" }, `${(100 * p).toFixed(1)}%`)),
    h("div", { class: "stats" },
      stat("epochs", `${fmt(job.epochs, 5)} / ${fmt(job.total_epochs)}`),
      stat("samples", fmtInt(job.samples)),
      stat("samples / s", fmtInt(job.samples_per_second)),
      stat("ETA", eta),
      stat("elapsed", fmtDuration(job.elapsed_seconds)),
      stat("ranks × threads", `${fmt(job.ranks)} × ${fmt(job.threads)}`),
      stat("iterations", fmtInt(job.iterations)),
      job.stop_reason ? stat("stopped", job.stop_reason) : null),
    job.message ? h("p", { class: "muted" }, job.message) : null);
}
async function pageJobs() {
  const { jobs } = await getJSON("/api/jobs");
  const cols = [
    { label: "job", text: true, cell: (j) => h("a", { href: "#/job/" + keyPath(j.key) }, j.name) },
    { label: "status", text: true, cell: (j) => badge(j.status) },
    { label: "progress", cell: (j) => progressBar(j.progress, j.status === "finished") },
    { label: "epochs", cell: (j) => `${fmt(j.epochs)} / ${fmt(j.total_epochs)}` },
    { label: "samples/s", cell: (j) => fmtInt(j.samples_per_second) },
    { label: "ETA", cell: (j) => (j.status === "running" ? fmtDuration(j.eta_seconds) : "–") },
    { label: "ranks × threads", cell: (j) => `${fmt(j.ranks)} × ${fmt(j.threads)}` },
    { label: "model", text: true, cell: (j) => (j.model ? h("a", { href: "#/model/" + keyPath(j.model) }, j.model_id || j.model) : "–") },
    { label: "stop reason", key: "stop_reason", text: true },
  ];
  return { nodes: [h("h1", {}, "Jobs"), card(null, table(cols, jobs, { empty: "no job output directories here (hpcdl train writes frames/ and the model into its output_dir)" }))],
    live: jobs.some((j) => j.live && (j.status === "running" || j.status === "starting")) };
}
async function pageJob(key) {
  const job = await getJSON("/api/jobs/" + keyPath(key));
  let model = null;
  if (job.model) model = await getJSON("/api/models/" + keyPath(job.model)).catch(() => null);
  const frames = (job.frames || []).map((f) => h("li", {}, h("a", { href: "#/frame/" + keyPath(f.key) }, f.name),
    h("span", { class: "muted" }, ` ${fmtInt(f.nrow)} rows × ${fmtInt(f.ncol)} columns`)));
  const nodes = [
    h("h1", {}, job.name, badge(job.status), model ? h("span", { class: "sub" }, `model ${model.model_id} · ${model.kind || ""} · response ${model.response || "(autoencoder)"}`) : null),
    progressCard(job),
  ];
  if (model && model.history) nodes.push(...modelSections(model));
  nodes.push(h("div", { class: "grid", style: "margin-top:16px" },
    card("Frames", frames.length ? h("ul", {}, frames) : h("p", { class: "muted" }, "no imported frames in this job's output dir")),
    card("Checkpoints", (job.checkpoints || []).length ? h("ul", { class: "downloads" }, job.checkpoints.map((c) => h("li", {},
      h("a", { href: "/download/" + keyPath(c.key), download: c.name }, c.name), h("span", { class: "muted" }, fmtBytes(c.size)))))
      : h("p", { class: "muted" }, "none"))));
  return { nodes, live: job.live && (job.status === "running" || job.status === "starting") };
}
async function pageModels() {
  const { models } = await getJSON("/api/models");
  const cols = [
    { label: "model", text: true, cell: (m) => h("a", { href: "#/model/" + keyPath(m.key) }, m.model_id || m.key) },
    { label: "file", key: "key", text: true, cell: (m) => (m.live ? "(training)" : m.key) },
    { label: "status", text: true, cell: (m) => badge(m.status) },
    { label: "hidden", cell: (m) => fmt(m.hidden) }, { label: "activation", key: "activation", text: true },
    { label: "epochs", key: "epochs" },
    { label: "training error", key: "training_error" }, { label: "validation error", key: "validation_error" },
    { label: "error", text: true, cell: (m) => m.error ? h("span", { class: "muted", title: m.error }, "unreadable file") : fmt(m.error_name) },
  ];
  return { nodes: [h("h1", {}, "Models"), card(null, table(cols, models, { empty: "no model files here" }))],
    live: models.some((m) => m.live && m.status === "running") };
}
async function pageModel(key) {
  const model = await getJSON("/api/models/" + keyPath(key));
  const nodes = [h("h1", {}, model.model_id, badge(model.status),
    h("span", { class: "sub" }, `${model.kind || ""} · response ${model.response || "(autoencoder)"}` + (model.job ? " · job " : "")),
    model.job ? h("a", { href: "#/job/" + keyPath(model.job), class: "sub" }, model.job) : null)];
  if (model.error) nodes.push(card("Cannot read this model", h("p", {}, model.error)), downloadsCard(model));
  if (model.progress) nodes.push(progressCard({ ...model.progress, status: model.status }));
  if (model.history) nodes.push(...modelSections(model));
  return { nodes, live: model.live && (model.status === "running" || model.status === "starting") };
}
async function pageFrames() {
  const { frames } = await getJSON("/api/frames");
  const cols = [
    { label: "frame", text: true, cell: (f) => h("a", { href: "#/frame/" + keyPath(f.key) }, f.key) },
    { label: "job", key: "job", text: true }, { label: "rows", key: "nrow" }, { label: "columns", key: "ncol" },
    { label: "size", cell: (f) => fmtBytes(f.size) },
  ];
  return { nodes: [h("h1", {}, "Frames"), card(null, table(cols, frames, { empty: "no frames here" }))], live: false };
}
async function pageFrame(key) {
  const f = await getJSON("/api/frames/" + keyPath(key));
  const cols = [{ label: "column", key: "name", text: true }, { label: "type", key: "type", text: true },
    { label: "NAs", key: "na_count" }, { label: "min", key: "min" }, { label: "1st Qu.", key: "q1" }, { label: "median", key: "median" },
    { label: "mean", key: "mean" }, { label: "3rd Qu.", key: "q3" }, { label: "max", key: "max" }, { label: "sd", key: "sd" },
    { label: "levels", text: true, cell: (c) => h("span", { class: "levels" }, c.levels ? `${c.cardinality}: ` + c.levels.map(([l, n]) => `${l} (${n})`).join(", ") : (c.bad || (c.constant ? "constant" : ""))) }];
  return { nodes: [h("h1", {}, f.key, h("span", { class: "sub" }, `${fmtInt(f.nrow)} rows × ${fmtInt(f.ncol)} columns` + (f.job ? " · job " : "")),
    f.job ? h("a", { href: "#/job/" + keyPath(f.job), class: "sub" }, f.job) : null), card("Summary", table(cols, f.columns))], live: false };
}

// ---- routing and polling --------------------------------------------------------
function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, ...rest] = hash.split("/");
  return { page: page || "", key: rest.map(decodeURIComponent).join("/") };
}
async function render() {
  clearTimeout(state.timer);
  let r = parseRoute();
  if (!r.page) { location.replace(state.info.default_route); return; }
  const pages = { jobs: pageJobs, job: pageJob, models: pageModels, model: pageModel, frames: pageFrames, frame: pageFrame };
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", r.page.startsWith(a.dataset.nav.slice(0, -1)));
  const app = document.getElementById("app");
  try {
    const page = pages[r.page] ? await pages[r.page](r.key) : { nodes: [h("h1", {}, "Not found")], live: false };
    if (parseRoute().page !== r.page || parseRoute().key !== r.key) return; // navigated away meanwhile
    const y = window.scrollY;
    const open = [...app.querySelectorAll("details")].map((d) => d.open);
    app.replaceChildren(...page.nodes);
    [...app.querySelectorAll("details")].forEach((d, i) => { if (open[i]) d.open = true; });
    window.scrollTo(0, y);
    if (state.lost) { state.lost = false; banner(""); }
    if (page.live) state.timer = setTimeout(render, POLL_MS);
  } catch (e) {
    if (e.status) {
      app.replaceChildren(h("h1", {}, e.status === 404 ? "Not found" : "Error"), card(null, h("p", {}, e.message)));
    } else if (state.info && state.info.live) {
      state.lost = true;
      banner("Lost contact with the training process: the job has ended or was stopped. " +
             "Browse its saved model with: hpcdl ui <the job's output_dir>. Retrying…");
      state.timer = setTimeout(render, 3 * POLL_MS);
    } else {
      banner("The server does not answer (hpcdl ui stopped?).");
    }
  }
}
async function start() {
  try { state.info = await getJSON("/api/info"); } catch (e) { banner("The server does not answer."); return; }
  document.getElementById("mode").textContent = state.info.live ? "live training view · read-only" : `${state.info.root} · read-only`;
  window.addEventListener("hashchange", render);
  render();
}
start();
