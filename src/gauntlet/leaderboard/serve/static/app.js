// gauntlet serve, and the static page `gauntlet leaderboard --output page.html`: every page is
// drawn here from the JSON API. Values only ever enter the page as text nodes or SVG attributes
// (never as HTML). Served, the page polls the API so that new runs, epochs and statuses appear
// without a reload. In a static page the API's answers are embedded (the "snapshot" element),
// pages are addressed by the URL's fragment (#/runs/ID) and nothing is fetched.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;
const SNAPSHOT = (() => {
  const node = document.getElementById("snapshot");
  return node ? JSON.parse(node.textContent) : null;
})();
let lastPayload = null;
let shownRoute = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (parent) parent.append(node);
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(3);
    return value.toFixed(4);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function interval(stats) {
  if (!stats || stats.mean === null || stats.mean === undefined) return "—";
  let text = fmt(stats.mean);
  if (stats.n > 1 && stats.ci_low !== null && stats.ci_high !== null) {
    text += " ± " + fmt((stats.ci_high - stats.ci_low) / 2);
  }
  return text;
}

async function api(path) {
  if (SNAPSHOT) return answer(path);
  const response = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- a static page: the API answered from the embedded snapshot -------------------------------

function answer(path) {
  const [bare, query] = path.split("?");
  const params = new URLSearchParams(query || "");
  if (bare === "/api/diff") return diffOf(Array.from(new Set(params.get("runs").split(","))));
  const found = SNAPSHOT.answers[bare];
  if (found === undefined) throw new Error("not in this page: " + bare + " (gauntlet serve shows every run)");
  return found;
}

const TIMING = /^perf\/|_s$|_ms$/;

function diffOf(ids) {
  // what /api/diff answers (gauntlet diff's comparison), from each run's embedded sections
  const facts = ids.map((id) => SNAPSHOT.sections[id]);
  const differences = {};
  for (const section of SNAPSHOT.section_order) {
    const keys = Array.from(new Set(facts.flatMap((f) => Object.keys(f[section] || {})))).sort();
    for (const key of keys) {
      if (section === "metrics" && TIMING.test(key)) continue;
      const values = facts.map((f) => (f[section] || {})[key] ?? null);
      if (values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]))) continue;
      (differences[section] = differences[section] || []).push({ key: key, values: values });
    }
  }
  return { runs: ids, same: !Object.keys(differences).length, differences: differences };
}

function href(path) {
  return SNAPSHOT ? "#" + path : path;
}

function go(path) {
  if (SNAPSHOT) { location.hash = path; return; }
  history.pushState(null, "", path);
  route();
}

function link(path, text) {
  return el("a", { href: path.startsWith("/") ? href(path) : path }, text);
}

function runLink(id) {
  return link("/runs/" + encodeURIComponent(id), id);
}

function table(headers, rows, numeric, id) {
  const head = el("tr", {}, ...headers.map((h) => el("th", { class: numeric && numeric.has(h) ? "num" : null }, h)));
  const body = el("tbody", {});
  for (const row of rows) body.append(row);
  const node = el("table", { class: "sortable" + (id === "task" ? " task" : ""), id: id && id !== "task" ? id : null }, el("thead", {}, head), body);
  head.querySelectorAll("th").forEach((th, index) => th.addEventListener("click", () => sortTable(body, index)));
  return node;
}

function sortTable(body, index) {
  const rows = Array.from(body.rows);
  const key = (row) => row.cells[index].getAttribute("data-sort") ?? row.cells[index].textContent;
  const descending = body.getAttribute("data-sorted") !== String(index);
  rows.sort((a, b) => {
    const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
    const order = !isNaN(nx) && !isNaN(ny) ? nx - ny : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  body.setAttribute("data-sorted", descending ? String(index) : "");
  rows.forEach((row) => body.append(row));
}

function td(value, cls, sort) {
  const cell = el("td", { class: cls || null }, value);
  if (sort !== undefined && sort !== null) cell.setAttribute("data-sort", String(sort));
  return cell;
}

function show(main, ...parts) {
  // replaceChildren would write a missing part as the text "null"
  main.replaceChildren(...parts.filter((part) => part !== null && part !== undefined));
}

// -- pages ----------------------------------------------------------------------------------

async function boardPage(main, params) {
  const query = new URLSearchParams(params);
  const [groups, runs] = await Promise.all([
    api("/api/groups?" + query.toString()),
    api("/api/runs?limit=100&" + query.toString()),
  ]);
  const metric = groups.metrics[0];
  document.getElementById("source").textContent = groups.source;
  const controls = el("div", { class: "controls" });
  const filter = el("input", { type: "search", id: "filter", placeholder: "filter: words a row holds", "aria-label": "filter" });
  const compare = el("button", { id: "compare", type: "button" }, "compare ticked runs");
  controls.append(filter);
  if (!SNAPSHOT) {  // a query of the whole store, answered by the server
    const search = el("input", { type: "search", id: "search", placeholder: "search runs", value: params.get("q") || "" });
    const every = el("input", { type: "checkbox", id: "all" });
    every.checked = params.get("all") === "1";
    const query = () => {
      const next = new URLSearchParams(params);
      if (search.value) next.set("q", search.value); else next.delete("q");
      if (every.checked) next.set("all", "1"); else next.delete("all");
      go("/?" + next.toString());
    };
    search.addEventListener("change", query);
    every.addEventListener("change", query);
    controls.append(search, el("label", {}, every, " every run (failed, lost, smoke)"));
  }
  controls.append(compare);
  filter.addEventListener("input", () => narrow(filter.value, boardState().group));
  compare.addEventListener("click", () => {
    const ids = Array.from(document.querySelectorAll("input.pick:checked")).map((box) => box.value);
    if (ids.length >= 2) go("/compare?runs=" + ids.map(encodeURIComponent).join(","));
  });
  const groupOf = {};
  groups.items.forEach((group, index) => group.run_ids.forEach((id) => { groupOf[id] = index; }));
  const groupRows = groups.items.map((group, index) =>
    el("tr", { "data-group": group.key || "", "data-index": index },
      td(group.key ? link("/groups/" + encodeURIComponent(group.key), group.label) : group.label),
      td(el("a", { href: "#group=" + index, class: "group-runs" }, String(group.n)), "num", group.n),
      ...groups.metrics.map((m) => td(interval(group.metrics[m]), "num", group.metrics[m].mean)),
    ));
  const runRows = runs.items.map((run) =>
    el("tr", { "data-run": run.run_id, "data-in-group": groupOf[run.run_id] ?? null },
      td(el("input", { type: "checkbox", class: "pick", value: run.run_id })),
      td(runLink(run.run_id), "id"),
      td(run.status, "status-" + run.status),
      td(run.experiment), td(fmt(run.seed), "num", run.seed),
      td(fmt(run.metrics[metric]), "num", run.metrics[metric]),
      td(run.sweep ? link("/sweeps/" + encodeURIComponent(run.sweep), run.sweep) : "—"),
      td(run.started ? run.started.replace("T", " ").slice(0, 19) : "—"),
    ));
  const headers = ["group", "runs", ...groups.metrics.map((m) => m + " (mean ± 95% CI)")];
  const tasks = await api("/api/tasks?" + query.toString());
  show(main,
    controls,
    el("h2", {}, "Groups"),
    el("p", { class: "meta" }, `${groups.runs} ${plural(groups.runs, "run")} in ${groups.total} ${plural(groups.total, "group")}; click a group's run count for its runs`),
    table(headers, groupRows, new Set(["runs", ...headers.slice(2)]), "board"),
    tasksSection(tasks),
    el("h2", {}, "Runs"),
    el("p", { class: "meta" }, `newest ${runs.items.length} of ${runs.total}; tick two or more to compare`),
    table(["", "run_id", "status", "experiment", "seed", metric, "sweep", "started"], runRows, new Set(["seed", metric]), "runs"),
  );
  const state = boardState();
  filter.value = state.filter;
  narrow(state.filter, state.group);
  return JSON.stringify([groups, runs, tasks]);
}

function plural(n, word) {
  return n === 1 ? word : word + "s";
}

function boardState() {
  // #filter=TEXT&group=N: the board's view, so that a link can point at it
  const state = { filter: "", group: null };
  if (location.hash.startsWith("#/")) return state;
  for (const part of decodeURIComponent(location.hash.slice(1)).split("&")) {
    const at = part.indexOf("=");
    if (part.slice(0, at) === "filter") state.filter = part.slice(at + 1);
    if (part.slice(0, at) === "group") state.group = part.slice(at + 1);
  }
  return state;
}

function narrow(text, group) {
  // keep the rows that hold every word typed (and, for a group's runs, only those runs)
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  document.querySelectorAll("#main tbody tr").forEach((row) => {
    const other = group !== null && row.hasAttribute("data-run") && row.getAttribute("data-in-group") !== group;
    row.hidden = other || !words.every((w) => row.textContent.toLowerCase().includes(w));
  });
}

function tasksSection(tasks) {
  // per dataset and metric, each model's best group, ranked; a group with fewer seeds than
  // --min-seeds is marked and ranked after the others
  if (!tasks.length) return null;
  const section = el("section", { id: "tasks" }, el("h2", {}, "Best per task"),
    el("p", { class: "meta" }, "for each dataset and metric, each model's best group; click its run count for its runs"));
  for (const task of tasks) {
    const rows = task.entries.map((entry) => el("tr", { "data-model": entry.model },
      td(String(entry.rank), "num", entry.rank), td(entry.model), td(entry.label, entry.few_seeds ? "few" : null),
      td(entry.index === null ? String(entry.n) : el("a", { href: "#group=" + entry.index, class: "group-runs" }, String(entry.n)), "num", entry.n),
      td(interval(entry.stats), "num", entry.stats.mean), td(entry.run_ids.join(" "), "id")));
    const node = table(["rank", "model", "group", "runs", "mean ± 95% CI", "run ids"], rows, new Set(["rank", "runs", "mean ± 95% CI"]), "task");
    node.setAttribute("data-data", task.data);
    node.setAttribute("data-metric", task.metric);
    section.append(el("h3", {}, task.data + " · " + task.metric), node);
  }
  return section;
}

function curveChart(title, series, width) {
  // series: [{name, points: [[x, y]], color, dashed}]
  const height = 220, left = 48, right = 12, top = 22, bottom = 28;
  const all = series.flatMap((s) => s.points);
  const chart = svg("svg", { width: width, height: height, class: "curve", role: "img" });
  svg("text", { x: left, y: 14 }, chart).textContent = title;
  if (all.length === 0) return chart;
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) x1 = x0 + 1;
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => left + ((x - x0) / (x1 - x0)) * (width - left - right);
  const Y = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const value = y0 + (i / 4) * (y1 - y0);
    svg("line", { x1: left, x2: width - right, y1: Y(value), y2: Y(value), stroke: "#eee" }, chart);
    svg("text", { x: left - 4, y: Y(value) + 4, "text-anchor": "end" }, chart).textContent = fmt(value);
  }
  const epochs = Array.from(new Set(xs)).sort((a, b) => a - b);
  const step = Math.max(1, Math.ceil(epochs.length / 8));
  epochs.filter((_, i) => i % step === 0).forEach((x) => {
    svg("text", { x: X(x), y: height - 10, "text-anchor": "middle" }, chart).textContent = String(x);
  });
  const gap = series.find((s) => s.gapWith);
  if (gap) {
    const other = series.find((s) => s.name === gap.gapWith);
    if (other && other.points.length && gap.points.length) {
      const pts = gap.points.map((p) => `${X(p[0])},${Y(p[1])}`).concat(
        other.points.slice().reverse().map((p) => `${X(p[0])},${Y(p[1])}`));
      svg("polygon", { points: pts.join(" "), fill: "#999", "fill-opacity": "0.15", class: "gap" }, chart);
    }
  }
  series.forEach((s, index) => {
    if (!s.points.length) return;
    svg("polyline", {
      points: s.points.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "),
      fill: "none", stroke: s.color, "stroke-width": 2, class: "series",
      "stroke-dasharray": s.dashed ? "5 3" : "none", "data-name": s.name,
    }, chart);
    s.points.forEach((p) => svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: s.color, class: "point" }, chart));
    svg("text", { x: width - right - 4, y: top + 12 + 13 * index, "text-anchor": "end", fill: s.color }, chart).textContent = s.name;
  });
  return chart;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

function seriesOf(epochs, name) {
  return epochs.filter((e) => typeof e.metrics[name] === "number").map((e) => [e.epoch, e.metrics[name]]);
}

function flatten(tree, prefix, out) {
  for (const [key, value] of Object.entries(tree || {})) {
    const name = prefix ? prefix + "." + key : key;
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) flatten(value, name, out);
    else out.push([name, value]);
  }
  return out;
}

async function runPage(main, runId) {
  const [run, history] = await Promise.all([
    api("/api/runs/" + encodeURIComponent(runId)),
    api("/api/runs/" + encodeURIComponent(runId) + "/history"),
  ]);
  const width = Math.max(320, Math.min(560, (main.clientWidth || 900) / 2 - 20));
  const epochs = history.epochs;
  const charts = el("div", { class: "charts", id: "curves" });
  for (const metric of ["loss", "acc"]) {
    const train = seriesOf(epochs, "train/" + metric), val = seriesOf(epochs, "val/" + metric);
    if (!train.length && !val.length) continue;
    charts.append(el("figure", {}, curveChart(metric + ": train against val (gap shaded)", [
      { name: "train/" + metric, points: train, color: COLORS[0], gapWith: "val/" + metric },
      { name: "val/" + metric, points: val, color: COLORS[1] },
    ], width)));
  }
  if (!charts.childNodes.length && epochs.length) {
    const names = Object.keys(epochs[epochs.length - 1].metrics).slice(0, 4);
    charts.append(el("figure", {}, curveChart("history", names.map((n, i) => ({ name: n, points: seriesOf(epochs, n), color: COLORS[i] })), width)));
  }
  const metrics = Object.entries(run.metrics || {}).map(([k, v]) => el("tr", {}, td(k), td(fmt(v), "num", v)));
  const config = flatten(run.config, "", []).map(([k, v]) => el("tr", {}, td(k), td(fmt(v))));
  const git = run.git || {};
  const beat = run.recorded_status !== "running" || run.heartbeat_age_s === null ? "" :
    ` · heartbeat ${Math.round(run.heartbeat_age_s)} s ago`;
  show(main,
    el("h2", {}, "Run ", el("span", { class: "id", id: "run-id" }, run.run_id)),
    el("p", {}, el("span", { class: "status-" + run.status, id: "status" }, run.status), beat,
      ` · ${run.experiment || "—"} · seed ${fmt(run.seed)} · ${run.epochs_recorded} epochs recorded`,
      run.config_key ? el("span", {}, " · ", link("/groups/" + encodeURIComponent(run.config_key), "its group")) : null),
    run.error ? el("p", { class: "error" }, run.error) : null,
    el("h3", {}, "Curves"), charts,
    el("h3", {}, "Commands"),
    el("pre", {}, run.commands.reproduce + "\n" + run.commands.diff),
    el("h3", {}, "Metrics"), table(["metric", "value"], metrics, new Set(["value"])),
    el("h3", {}, "Overrides"), el("pre", { id: "overrides" }, (run.overrides || []).join(" ") || "(none)"),
    el("h3", {}, "Code"), el("p", {}, `git ${git.commit || "—"}${git.dirty ? " (dirty)" : ""} · host ${run.host || "—"} · checkpoints ${run.checkpoints.where || "—"} on ${run.checkpoints.host || "—"}`),
    el("h3", {}, "Config"), table(["key", "value"], config),
  );
  return JSON.stringify([run, history]);
}

async function groupPage(main, key) {
  const group = await api("/api/groups/" + encodeURIComponent(key));
  const histories = await Promise.all(group.runs.map((r) => api("/api/runs/" + encodeURIComponent(r.run_id) + "/history")));
  const width = Math.max(320, Math.min(700, (main.clientWidth || 900) - 20));
  const series = histories.map((h, i) => ({ name: h.run_id, points: seriesOf(h.epochs, "val/acc"), color: COLORS[i % COLORS.length] }));
  const metric = Object.keys(group.metrics)[0];
  const rows = group.runs.map((run) => el("tr", {}, td(runLink(run.run_id), "id"), td(run.status, "status-" + run.status), td(fmt(run.seed), "num", run.seed), td(fmt(run.metrics[metric]), "num", run.metrics[metric])));
  show(main,
    el("h2", {}, group.label),
    el("p", {}, `${group.n} runs · ${metric} ${interval(group.metrics[metric])} (mean ± 95% CI), std ${fmt(group.metrics[metric].std)}`),
    el("figure", {}, curveChart("val/acc of each run", series, width)),
    table(["run_id", "status", "seed", metric], rows, new Set(["seed", metric])),
  );
  return JSON.stringify([group, histories]);
}

async function comparePage(main, params) {
  const ids = Array.from(new Set((params.get("runs") || "").split(",").filter(Boolean)));
  if (ids.length < 2) {
    show(main, el("h2", {}, "Compare"), el("p", { id: "diff-title" }, "Tick two runs to see what differs between them."));
    return "";
  }
  const [result, histories] = await Promise.all([
    api("/api/diff?runs=" + ids.map(encodeURIComponent).join(",")),
    Promise.all(ids.map((id) => api("/api/runs/" + encodeURIComponent(id) + "/history"))),
  ]);
  const width = Math.max(320, Math.min(560, (main.clientWidth || 900) / 2 - 20));
  const rows = [];
  for (const [section, items] of Object.entries(result.differences)) {
    for (const item of items) rows.push(el("tr", { class: "difference" }, td(section, "section"), td(item.key), ...item.values.map((v) => td(fmt(v)))));
  }
  const charts = el("div", { class: "charts" });
  for (const name of ["val/loss", "val/acc"]) {
    charts.append(el("figure", {}, curveChart(name, histories.map((h, i) => ({ name: h.run_id, points: seriesOf(h.epochs, name), color: COLORS[i % COLORS.length] })), width)));
  }
  show(main,
    el("h2", {}, "Compare"),
    el("p", { id: "diff-title" }, result.same ? "no differences" : `${rows.length} differences between ${ids.join(" and ")}`),
    table(["section", "key", ...ids], rows),
    charts,
  );
  return JSON.stringify([result, histories]);
}

function parallel(sweep, width) {
  // axes: the parameters that vary, then the metric; a line per run coloured by the metric
  const axes = [...sweep.parameters, sweep.metric];
  const height = 320, top = 30, bottom = 40, left = 60, right = 90;
  const chart = svg("svg", { width: width, height: height, id: "parallel-chart", role: "img" });
  const runs = sweep.runs.filter((r) => typeof r.metric === "number");
  const value = (run, axis) => (axis === sweep.metric ? run.metric : run.values[axis]);
  const scales = axes.map((axis) => {
    const values = runs.map((r) => value(r, axis)).filter((v) => v !== null && v !== undefined);
    if (values.every((v) => typeof v === "number")) {
      let lo = Math.min(...values), hi = Math.max(...values);
      if (lo === hi) { lo -= 1; hi += 1; }
      const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
      return { pos: (v) => (1 - (v - lo) / (hi - lo)), ticks: ticks.map((t) => [t, fmt(t)]) };
    }
    const levels = Array.from(new Set(values.map(String))).sort();
    const at = (v) => (levels.length === 1 ? 0.5 : levels.indexOf(String(v)) / (levels.length - 1));
    return { pos: at, ticks: levels.map((l) => [l, l]) };
  });
  const X = (i) => left + (axes.length === 1 ? 0 : (i / (axes.length - 1)) * (width - left - right));
  const Y = (f) => top + f * (height - top - bottom);
  const metrics = runs.map((r) => r.metric);
  const [m0, m1] = [Math.min(...metrics), Math.max(...metrics)];
  const colour = (m) => {
    const f = m1 === m0 ? 1 : (m - m0) / (m1 - m0);
    const a = [68, 1, 84], b = [253, 231, 37]; // viridis ends
    return `rgb(${a.map((c, i) => Math.round(c + f * (b[i] - c))).join(",")})`;
  };
  runs.forEach((run) => {
    const points = axes.map((axis, i) => `${X(i)},${Y(scales[i].pos(value(run, axis)))}`);
    svg("polyline", { points: points.join(" "), fill: "none", stroke: colour(run.metric), "stroke-width": 2, class: "trial", "data-run": run.run_id }, chart);
  });
  axes.forEach((axis, i) => {
    svg("line", { x1: X(i), x2: X(i), y1: Y(0), y2: Y(1), stroke: "#444" }, chart);
    svg("text", { x: X(i), y: 16, "text-anchor": "middle", class: "axis" }, chart).textContent = axis;
    scales[i].ticks.forEach(([v, label]) => {
      const y = Y(scales[i].pos(v));
      svg("line", { x1: X(i) - 4, x2: X(i), y1: y, y2: y, stroke: "#444", class: "tick" }, chart);
      svg("text", { x: X(i) - 6, y: y + 4, "text-anchor": "end", class: "tick-label" }, chart).textContent = label;
    });
  });
  // the colour scale, beside the metric's axis
  const defs = svg("defs", {}, chart);
  const gradient = svg("linearGradient", { id: "scale", x1: "0", x2: "0", y1: "1", y2: "0" }, defs);
  svg("stop", { offset: "0", "stop-color": colour(m0) }, gradient);
  svg("stop", { offset: "1", "stop-color": colour(m1) }, gradient);
  const sx = width - right + 30;
  svg("rect", { x: sx, y: Y(0), width: 12, height: Y(1) - Y(0), fill: "url(#scale)", class: "colour-scale" }, chart);
  svg("text", { x: sx + 16, y: Y(0) + 10 }, chart).textContent = fmt(m1);
  svg("text", { x: sx + 16, y: Y(1) }, chart).textContent = fmt(m0);
  return chart;
}

async function sweepPage(main, name) {
  const sweep = await api("/api/sweeps/" + encodeURIComponent(name));
  const holder = el("div", { id: "parallel" });
  show(main,
    el("h2", {}, "Sweep " + sweep.name),
    el("p", { class: "meta" }, `${sweep.runs.length} runs; parallel coordinates over the ${sweep.parameters.length} parameters that vary, coloured by ${sweep.metric}`),
    holder,
    table(["run_id", "status", ...sweep.parameters, sweep.metric], sweep.runs.map((r) =>
      el("tr", {}, td(runLink(r.run_id), "id"), td(r.status), ...sweep.parameters.map((p) => td(fmt(r.values[p]))), td(fmt(r.metric), "num", r.metric)))),
  );
  const draw = () => holder.replaceChildren(parallel(sweep, Math.max(360, holder.clientWidth || 900)));
  draw();
  window.onresize = draw;
  return JSON.stringify(sweep);
}

async function studyPage(main, name) {
  const study = await api("/api/studies/" + encodeURIComponent(name));
  const results = study.results || {};
  const cells = (results.cells || []).map((c) => el("tr", {}, td(c.label), td(fmt(c.n), "num", c.n), ...Object.entries(c.metrics || {}).map(([, s]) => td(interval(s), "num", s.mean))));
  const claimRows = (results.claims || []).map((c) => el("tr", {}, td(c.claim || c.text || ""), td(c.verdict || "—", "verdict-" + (c.verdict || "")), td(fmt(c.difference)), td(c.interval ? `[${fmt(c.interval[0])}, ${fmt(c.interval[1])}]` : "—"), td(fmt(c.p_adjusted ?? c.p_value))));
  show(main,
    el("h2", {}, "Study " + study.name),
    el("p", { class: "meta" }, `plan ${study.plan_hash} · updated ${study.updated} · host ${study.host || "—"}`),
    el("h3", {}, "Claims"), table(["claim", "verdict", "difference", "interval", "p (Holm)"], claimRows),
    el("h3", {}, "Cells"), table(["cell", "runs", ...((results.metrics) || [])], cells),
    el("h3", {}, "Settings"), el("pre", {}, JSON.stringify(study.settings, null, 1)),
  );
  return JSON.stringify(study);
}

async function studiesList(main) {
  const studies = await api("/api/studies");
  if (!studies.length) return;
  main.append(el("h2", {}, "Studies"), table(["study", "verdicts", "updated"], studies.map((s) =>
    el("tr", {}, td(link("/studies/" + encodeURIComponent(s.name), s.name)), td(s.verdicts.join(" ")), td(s.updated || "—")))));
}

// -- routing and live updates ---------------------------------------------------------------

function where() {
  // served: the URL's path and query; a static page: its fragment, #/runs/ID (else the board)
  if (!SNAPSHOT) return [decodeURIComponent(location.pathname), new URLSearchParams(location.search)];
  if (!location.hash.startsWith("#/")) return ["/", new URLSearchParams()];
  const [path, query] = decodeURIComponent(location.hash.slice(1)).split("?");
  return [decodeURIComponent(path), new URLSearchParams(query || "")];
}

async function render() {
  const main = document.getElementById("main");
  const [path, params] = where();
  if (path.startsWith("/runs/")) return runPage(main, path.slice(6));
  if (path.startsWith("/groups/")) return groupPage(main, path.slice(8));
  if (path === "/compare") return comparePage(main, params);
  if (path.startsWith("/sweeps/")) return sweepPage(main, path.slice(8));
  if (path.startsWith("/studies/")) return studyPage(main, path.slice(9));
  const payload = await boardPage(main, params);
  await studiesList(main);
  return payload;
}

function routeKey() {
  const [path, params] = where();
  return path + "?" + params.toString();
}

async function route() {
  shownRoute = routeKey();
  try {
    lastPayload = await render();
  } catch (error) {
    document.getElementById("main").replaceChildren(el("p", { class: "error" }, String(error.message || error)));
  }
}

async function poll() {
  // redraw only when what the page shows changed, so a reader's scroll and ticks stay put
  const stamp = await api("/api/stamp").catch(() => null);
  const marker = JSON.stringify(stamp);
  if (marker !== poll.last) {
    poll.last = marker;
    const ticked = Array.from(document.querySelectorAll("input.pick:checked")).map((box) => box.value);
    const focus = document.activeElement && document.activeElement.id;
    if (focus === "search" || focus === "filter") return;
    await route();
    ticked.forEach((id) => document.querySelectorAll("input.pick").forEach((box) => { if (box.value === id) box.checked = true; }));
  }
  document.getElementById("live").textContent = "live · " + new Date().toLocaleTimeString();
}

window.addEventListener("hashchange", () => {
  // a board's own view (#filter=, #group=) narrows the rows drawn; any other fragment is a page
  if (routeKey() === shownRoute && document.getElementById("filter")) {
    const state = boardState();
    document.getElementById("filter").value = state.filter;
    narrow(state.filter, state.group);
  } else {
    route();
  }
});
if (SNAPSHOT) {
  document.title = SNAPSHOT.title;
  document.getElementById("home").textContent = SNAPSHOT.title;
  document.getElementById("home").setAttribute("href", "#/");
  document.getElementById("live").textContent = "generated " + SNAPSHOT.generated;
  route();
} else {
  document.addEventListener("click", (event) => {
    const anchor = event.target.closest && event.target.closest("a");
    const here = anchor && anchor.pathname === location.pathname && anchor.search === location.search;
    const own = anchor && anchor.origin === location.origin && !(here && anchor.hash);
    if (own && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      go(anchor.pathname + anchor.search);
    }
  });
  window.addEventListener("popstate", route);
  route().then(() => api("/api/stamp").then((s) => { poll.last = JSON.stringify(s); }).catch(() => {}));
  setInterval(poll, POLL_MS);
}
