// The status page: reads /api/status every second and redraws. Every value that comes
// from a record or a plugin goes into the DOM as text (textContent), never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function num(x, digits = 0) {
  if (x === null || x === undefined) return "–";
  return Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
function rate(x) { return x === null || x === undefined ? "…/s" : num(x, x < 10 ? 1 : 0) + "/s"; }
function short(text, n) { return text.length > n ? text.slice(0, n - 1) + "…" : text; }
function mib(bytes) { return num(bytes / 1048576, 1) + " MiB"; }

function table(id, head, rows) {
  const t = document.getElementById(id);
  t.replaceChildren(el("tr", {}, ...head.map(h => el("th", {}, h))));
  for (const row of rows) {
    t.append(el("tr", {}, ...row.map(cell => cell instanceof Node ? el("td", {}, cell) :
      el("td", typeof cell === "number" ? { class: "num" } : {}, cell))));
  }
  if (rows.length === 0) t.append(el("tr", {}, el("td", { class: "mute", colspan: head.length }, "none")));
}

// Input → stages → outputs, a rate on every edge.
function drawFlow(s) {
  const svg = document.getElementById("flow");
  const outputs = s.outputs.filter(o => o.role !== "state");
  const boxW = 210, boxH = 62, gap = 64, outH = 44;
  const columns = 1 + s.stages.length;
  const width = Math.max(900, 10 + columns * (boxW + gap) + 40 + 240);
  const height = Math.max(boxH + 40, outputs.length * (outH + 10) + 30);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", height);
  svg.replaceChildren();
  const midY = height / 2;
  const box = (x, y, w, h, cls, lines, data) => {
    const g = el("svg:g", data);
    g.append(el("svg:rect", { x, y, width: w, height: h, rx: 6, class: cls }));
    lines.forEach(([text, c], i) => g.append(el("svg:text", { x: x + 8, y: y + 17 + i * 15, class: c || "" }, text)));
    svg.append(g);
  };
  const edge = (x1, y1, x2, y2, label, data) => {
    const cx = (x1 + x2) / 2;
    svg.append(el("svg:path", { d: `M${x1},${y1} C${cx},${y1} ${cx},${y2} ${x2},${y2}` }));
    svg.append(el("svg:text", Object.assign({ x: x2 - 48, y: y2 - 5, class: "rate" }, data), label));
  };
  let x = 10;
  box(x, midY - boxH / 2, boxW, boxH, "box", [[short(s.input.topic || "(input)", 28)], ["input topic", "small"], [num(s.input.records) + " records", "small"]], { "data-topic": s.input.topic });
  let rightOf = x + boxW;
  s.stages.forEach((stage, i) => {
    x += boxW + gap;
    edge(rightOf, midY, x, midY, rate(i === 0 ? s.input.per_s : stage.per_s), { "data-edge": "into " + stage.name });
    const cls = "box stage" + (stage.breaker === "open" ? " open" : "");
    box(x, midY - boxH / 2, boxW, boxH, cls, [
      [stage.name + " · " + stage.kind],
      [short(stage.plugin, 22) + " @" + (stage.sha256 || "").slice(0, 8), "small"],
      ["contract " + stage.contract + " · breaker " + stage.breaker, "small"],
    ], { "data-stage": stage.name });
    rightOf = x + boxW;
  });
  const outX = rightOf + gap + 40;
  outputs.forEach((out, i) => {
    const y = 15 + i * (outH + 10);
    edge(rightOf, midY, outX, y + outH / 2, rate(out.per_s), { "data-edge": "to " + out.topic });
    box(outX, y, 230, outH, "box", [[short(out.topic, 32)], [out.role.replace("_", " ") + " · " + num(out.records) + " records", "small"]], { "data-topic": out.topic });
  });
}

function drawReport(report) {
  const holder = document.getElementById("report");
  document.getElementById("report-age").textContent = report ? `(${num(report.age_s, 0)} s old)` : "";
  const failed = report && report.report && report.report.error;
  if (failed) { holder.replaceChildren(el("p", { class: "mute" }, `the report failed: ${failed}`)); return; }
  const analytics = report && report.report && report.report.analytics;
  if (!analytics) { holder.replaceChildren(el("p", { class: "mute" }, "no aggregator report yet")); return; }
  const parts = [el("p", { class: "mute" }, analytics.plugin)];
  const counters = Object.entries(analytics.counters || {});
  if (counters.length) {
    const t = el("table", {});
    for (const [name, value] of counters) t.append(el("tr", {}, el("td", {}, name), el("td", { class: "num" }, num(value))));
    parts.push(t);
  }
  for (const tableData of analytics.tables || []) {
    parts.push(el("h2", {}, tableData.title));
    const max = Math.max(1, ...tableData.rows.map(r => r.count));
    const t = el("table", { class: "bars" });
    for (const row of tableData.rows) {
      t.append(el("tr", { "data-row": row.label }, el("td", {}, row.label), el("td", {},
        el("span", { class: "bar", style: `width:${Math.max(1, Math.round(300 * row.count / max))}px` }), " ", num(row.count))));
    }
    parts.push(t);
  }
  holder.replaceChildren(...parts);
}

function draw(s) {
  document.getElementById("version").textContent = "v" + s.weir;
  const ready = document.getElementById("ready");
  ready.textContent = s.readiness.ready ? "ready" : "not ready: " + s.readiness.missing.join("; ");
  ready.className = "badge " + (s.readiness.ready ? "ok" : "bad");
  document.getElementById("updated").textContent = "updated " + new Date(s.at_ms).toLocaleTimeString();
  drawFlow(s);
  table("stages", ["stage", "plugin", "records", "rate", "batch p50", "batch p99", "faults", "restarts", "memory / limit", "dead letters"],
    s.stages.map(st => [st.name, st.plugin, num(st.records), rate(st.per_s),
      st.batch_p50_ms === null ? "–" : num(st.batch_p50_ms, 2) + " ms", st.batch_p99_ms === null ? "–" : num(st.batch_p99_ms, 2) + " ms",
      Object.entries(st.faults).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(", ") || "none",
      num(st.restarts), mib(st.memory_bytes) + " / " + mib(st.memory_limit_bytes), num(st.dead_letters)]));
  table("reasons", ["count", "stage", "kind", "reason"],
    s.dead_letters.by_reason.map(r => [num(r.count), r.stage, r.kind, el("span", { class: "reason" }, r.reason)]));
  table("partitions", ["partition", "lag", "last checkpoint"],
    s.partitions.map(p => [`${p.topic}/${p.partition}`, num(p.lag), p.checkpoint_age_s === null ? "–" : num(p.checkpoint_age_s, 0) + " s ago"]));
  document.getElementById("tables-section").hidden = s.tables.length === 0;
  table("tables", ["table", "keys", "memory", "lag", "lookups", "rate", "misses", "refused updates"],
    s.tables.map(t => [t.table, num(t.keys), mib(t.bytes) + (t.on_disk ? " on disk" : ""), num(t.lag), num(t.lookups), rate(t.lookups_per_s), num(t.misses), num(t.refused_updates)]));
  table("recent", ["when", "stage", "key", "reason", "value (first bytes)"],
    s.dead_letters.recent.map(d => [new Date(d.at_ms).toLocaleTimeString(), d.stage,
      el("code", {}, s.dead_letters.hidden ? "(hidden)" : d.key === null ? "(no key)" : d.key),
      el("span", { class: "reason" }, d.reason),
      el("span", { class: "value" }, s.dead_letters.hidden ? "(hidden: [metrics] show_records)" : d.value)]));
  drawReport(s.report);
}

async function refresh() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (response.ok) draw(await response.json());
  } catch (e) {
    document.getElementById("updated").textContent = "weir is not answering (" + e.message + ")";
  }
  setTimeout(refresh, 1000);
}
refresh();
