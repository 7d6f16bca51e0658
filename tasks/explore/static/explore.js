// zspace explore: a canvas scatter of one run's latent map, point details, sliders that decode
// live, and A -> B interpolation. Data from the server only ever reaches the page through
// textContent, attributes set as properties, or numbers; never innerHTML.
"use strict";

const RUN = decodeURIComponent(location.pathname.split("/")[2] || "");
const API = "/api/runs/" + encodeURIComponent(RUN);
const $ = (id) => document.getElementById(id);
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

const S = {
  meta: null, xy: null, rows: null, colour: null, lut: null, lo: 0, hi: 1,
  view: { scale: 1, tx: 0, ty: 0 }, selected: null, point: null, a: null, b: null, neighbours: [],
  hover: null, drag: null, decoding: false, decodePending: false, decodeCount: 0,
  drawFrame: 0, hoverFrame: 0,
};

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

function buildLut() {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (VIRIDIS.length - 1), k = Math.min(Math.floor(t), VIRIDIS.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = VIRIDIS[k][c] * (1 - f) + VIRIDIS[k + 1][c] * f;
  }
  return lut;
}

// ---- map: data, view, drawing --------------------------------------------------------------
async function loadMap(name) {
  const buf = await (await fetchOk(API + "/map/" + encodeURIComponent(name))).arrayBuffer();
  const n = buf.byteLength / 12;
  S.xy = new Float32Array(buf, 0, 2 * n);
  S.rows = new Int32Array(buf, 8 * n, n);
  fitView();
  draw();
}

async function loadColour(name) {
  const buf = await (await fetchOk(API + "/colour/" + encodeURIComponent(name))).arrayBuffer();
  S.colour = new Float32Array(buf);
  const vals = Array.from(S.colour).filter(Number.isFinite).sort((p, q) => p - q);
  S.lo = vals.length ? vals[Math.floor(0.01 * (vals.length - 1))] : 0;
  S.hi = vals.length ? vals[Math.floor(0.99 * (vals.length - 1))] : 1;
  if (S.hi <= S.lo) S.hi = S.lo + 1;
  $("colour-lo").textContent = S.lo.toPrecision(3);
  $("colour-hi").textContent = S.hi.toPrecision(3);
  if (S.point) showValues(S.point);
  draw();
}

function canvasSize() {
  const c = $("map"), dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(c.clientWidth * dpr)), h = Math.max(1, Math.round(c.clientHeight * dpr));
  if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
  return { w, h, dpr };
}

function fitView() {
  const { w, h } = canvasSize();
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (let k = 0; k < S.xy.length; k += 2) {
    x0 = Math.min(x0, S.xy[k]); x1 = Math.max(x1, S.xy[k]);
    y0 = Math.min(y0, S.xy[k + 1]); y1 = Math.max(y1, S.xy[k + 1]);
  }
  const scale = 0.92 * Math.min(w / Math.max(x1 - x0, 1e-9), h / Math.max(y1 - y0, 1e-9));
  S.view = { scale, tx: w / 2 - scale * (x0 + x1) / 2, ty: h / 2 + scale * (y0 + y1) / 2 };
}

// device pixels of map point k (y up)
function toScreen(k) {
  return [S.xy[2 * k] * S.view.scale + S.view.tx, -S.xy[2 * k + 1] * S.view.scale + S.view.ty];
}

function draw() {
  if (!S.xy) return;
  const { w, h, dpr } = canvasSize();
  const ctx = $("map").getContext("2d");
  const img = ctx.createImageData(w, h), px = img.data;
  px.fill(255);
  const n = S.rows.length, r = Math.max(1, Math.round(dpr * (n > 50000 ? 1 : n > 5000 ? 2 : 4)));
  const half = Math.floor(r / 2);
  const { scale, tx, ty } = S.view, xy = S.xy;
  for (let k = 0; k < n; k++) {
    const x = Math.round(xy[2 * k] * scale + tx) - half, y = Math.round(-xy[2 * k + 1] * scale + ty) - half;
    if (x < 0 || y < 0 || x >= w - r || y >= h - r) continue;
    const v = S.colour ? S.colour[S.rows[k]] : NaN;
    let cr = 160, cg = 160, cb = 160;
    if (Number.isFinite(v)) {
      const i = 3 * Math.max(0, Math.min(255, Math.round(255 * (v - S.lo) / (S.hi - S.lo))));
      cr = S.lut[i]; cg = S.lut[i + 1]; cb = S.lut[i + 2];
    }
    for (let dy = 0; dy < r; dy++) {
      let o = 4 * ((y + dy) * w + x);
      for (let dx = 0; dx < r; dx++, o += 4) { px[o] = cr; px[o + 1] = cg; px[o + 2] = cb; }
    }
  }
  ctx.putImageData(img, 0, 0);
  drawMarkers(ctx, dpr);
}

// one redraw per animation frame, however many wheel or drag events arrive in between
function scheduleDraw() {
  if (S.drawFrame) return;
  S.drawFrame = requestAnimationFrame(() => { S.drawFrame = 0; draw(); });
}

function mapIndexOf(row) {
  if (row === null || !S.rows) return -1;
  if (S.rows.length === S.meta.n && S.rows[row] === row) return row;
  return S.rows.indexOf(row);
}

function ring(ctx, row, colour, radius, dpr) {
  const k = mapIndexOf(row);
  if (k < 0) return;
  const [x, y] = toScreen(k);
  ctx.beginPath();
  ctx.arc(x, y, radius * dpr, 0, 2 * Math.PI);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2 * dpr;
  ctx.stroke();
}

function drawMarkers(ctx, dpr) {
  for (const nb of S.neighbours) ring(ctx, nb.index, "#ff9800", 4, dpr);
  ring(ctx, S.a, "#1565c0", 9, dpr);
  ring(ctx, S.b, "#c62828", 9, dpr);
  ring(ctx, S.selected, "#000", 6, dpr);
}

// nearest map point to a CSS-pixel position within maxPx, or -1
function pick(cssX, cssY, maxPx) {
  const dpr = window.devicePixelRatio || 1, x = cssX * dpr, y = cssY * dpr;
  const { scale, tx, ty } = S.view, xy = S.xy;
  let best = -1, bestD = (maxPx * dpr) ** 2;
  for (let k = 0; k < S.rows.length; k++) {
    const dx = xy[2 * k] * scale + tx - x, dy = -xy[2 * k + 1] * scale + ty - y;
    const d = dx * dx + dy * dy;
    if (d < bestD) { bestD = d; best = k; }
  }
  return best;
}

// ---- interaction on the canvas -------------------------------------------------------------
function installCanvasEvents() {
  const c = $("map");
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    const dpr = window.devicePixelRatio || 1, f = Math.exp(-e.deltaY * 0.0015);
    const mx = e.offsetX * dpr, my = e.offsetY * dpr;
    S.view.tx = mx - (mx - S.view.tx) * f;
    S.view.ty = my - (my - S.view.ty) * f;
    S.view.scale *= f;
    scheduleDraw();
  }, { passive: false });
  c.addEventListener("mousedown", (e) => { S.drag = { x: e.offsetX, y: e.offsetY, moved: false }; });
  c.addEventListener("mousemove", onMove);
  c.addEventListener("mouseleave", () => { $("tooltip").hidden = true; S.drag = null; });
  c.addEventListener("mouseup", (e) => {
    const d = S.drag;
    S.drag = null;
    if (d && d.moved) return;
    const k = pick(e.offsetX, e.offsetY, 10);
    if (k < 0) return;
    if (e.shiftKey) setB(S.rows[k]); else selectPoint(S.rows[k]);
  });
  window.addEventListener("resize", scheduleDraw);
}

function onMove(e) {
  const dpr = window.devicePixelRatio || 1;
  if (S.drag) {
    const dx = e.offsetX - S.drag.x, dy = e.offsetY - S.drag.y;
    if (S.drag.moved || Math.abs(dx) + Math.abs(dy) > 3) {
      S.drag.moved = true;
      S.view.tx += dx * dpr; S.view.ty += dy * dpr;
      S.drag.x = e.offsetX; S.drag.y = e.offsetY;
      scheduleDraw();
    }
    return;
  }
  if (S.hoverFrame) return;
  S.hoverFrame = requestAnimationFrame(() => { S.hoverFrame = 0; hover(e.offsetX, e.offsetY); });
}

function hover(x, y) {
  const k = S.xy ? pick(x, y, 8) : -1, tip = $("tooltip");
  if (k < 0) { tip.hidden = true; return; }
  const row = S.rows[k];
  if (S.hover !== row) {
    S.hover = row;
    $("tooltip-img").src = API + "/image/" + row + ".png";
    const v = S.colour ? S.colour[row] : NaN;
    $("tooltip-text").textContent = "#" + row + (Number.isFinite(v) ? "  " + v.toPrecision(3) : "");
  }
  tip.style.left = (x + 14) + "px";
  tip.style.top = (y + 14) + "px";
  tip.hidden = false;
}

// ---- point details, A/B, interpolation -----------------------------------------------------
async function selectPoint(row) {
  S.selected = row;
  $("point-index").textContent = "#" + row;
  $("point-image").src = API + "/image/" + row + ".png";
  $("point-reconstruction").src = API + "/reconstruction/" + row + ".png";
  for (const id of ["set-a", "set-b", "base-point"]) $(id).disabled = false;
  try {
    const p = await (await fetchOk(API + "/point/" + row)).json();
    if (S.selected !== row) return;
    S.point = p;
    showValues(p);
    showNeighbours(p.neighbours);
    if (baseChoice() === "point") requestDecode();
  } catch (err) { setStatus(err.message, true); }
  draw();
}

function showValues(p) {
  // radius and the value the map is coloured by first; every other value folded away
  const table = $("point-values"), more = $("more-values");
  table.replaceChildren();
  more.replaceChildren();
  const add = (box, k, v) => {
    const tr = box.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = v === null ? "–" : (typeof v === "number" ? v.toPrecision(4) : v);
  };
  const shown = $("colour-select").value;
  add(table, "radius ‖z‖", p.radius);
  if (shown !== "radius" && shown in p.values) add(table, shown, p.values[shown]);
  for (const [k, v] of Object.entries(p.values)) if (k !== "radius" && k !== shown) add(more, k, v);
}

function showNeighbours(list) {
  S.neighbours = list;
  const box = $("neighbours");
  box.replaceChildren();
  for (const nb of list) {
    const img = document.createElement("img");
    img.src = API + "/image/" + nb.index + ".png";
    img.alt = "#" + nb.index;
    img.title = "#" + nb.index + "  distance " + nb.distance.toPrecision(3);
    img.addEventListener("click", () => selectPoint(nb.index));
    box.appendChild(img);
  }
}

function setA(row) { S.a = row; $("a-index").textContent = "#" + row; interpolate(); draw(); }
function setB(row) { S.b = row; $("b-index").textContent = "#" + row; interpolate(); draw(); }

function interpolate() {
  if (S.a === null || S.b === null) return;
  const img = $("interpolation");
  img.src = API + "/interpolate.png?a=" + S.a + "&b=" + S.b + "&steps=8";
  img.hidden = false;
}

// ---- sliders decoding live -----------------------------------------------------------------
function baseChoice() { return document.querySelector("input[name=base]:checked").value; }

function addSlider(box, label, kind, title) {
  const row = document.createElement("label");
  const name = document.createElement("span"), out = document.createElement("span");
  name.textContent = label;
  name.title = title;
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min: -S.meta.slider_std, max: S.meta.slider_std,
                         step: 0.1, value: 0 });
  input.dataset.kind = kind;
  out.textContent = "0";
  input.addEventListener("input", () => { out.textContent = Number(input.value).toFixed(1); requestDecode(); });
  row.append(name, input, out);
  box.appendChild(row);
}

function buildSliders() {
  const box = $("sliders");
  box.replaceChildren();
  for (const pc of S.meta.pcs) {
    addSlider(box, "PC" + (pc.index + 1), "pc",
              "principal axis " + (pc.index + 1) + ", eigenvalue " + pc.eigenvalue.toPrecision(3) + "; in std");
  }
  for (const j of S.meta.dominant_components) {
    addSlider(box, "z[" + j + "] dom.", "dom", "dominant component " + j + "; in std");
  }
}

function sliderValues(kind) {
  return Array.from(document.querySelectorAll("#sliders input[data-kind=" + kind + "]"))
    .map((i) => Number(i.value)).join(",");
}

function requestDecode() {
  if (S.decoding) { S.decodePending = true; return; }
  S.decoding = true;
  const base = baseChoice() === "point" && S.selected !== null ? String(S.selected) : "mean";
  const url = API + "/decode?base=" + base + "&pc=" + sliderValues("pc") + "&dom=" + sliderValues("dom");
  fetchOk(url).then((r) => r.json()).then((d) => {
    $("decoded").src = d.image;
    S.decodeCount++;
    $("decode-info").textContent = "decoded in " + d.decode_ms.toFixed(1) + " ms · ‖z‖ " + d.radius.toFixed(2);
  }).catch((err) => setStatus(err.message, true)).finally(() => {
    S.decoding = false;
    if (S.decodePending) { S.decodePending = false; requestDecode(); }
  });
}

// ---- start -------------------------------------------------------------------------------
function fillSelect(id, items, onChange) {
  const sel = $(id);
  for (const [value, label] of items) sel.add(new Option(label, value));
  sel.addEventListener("change", () => onChange(sel.value).catch((e) => setStatus(e.message, true)));
}

async function start() {
  S.lut = buildLut();
  S.meta = await (await fetchOk(API + "/meta")).json();
  $("run-name").textContent = "· " + S.meta.run + " · " + S.meta.dataset + " · " + S.meta.n + " images";
  fillSelect("map-select", S.meta.maps.map((m) => [m.name, m.label]), loadMap);
  fillSelect("colour-select", S.meta.colourings.map((c) => [c, c]), loadColour);
  buildSliders();
  installCanvasEvents();
  $("set-a").addEventListener("click", () => setA(S.selected));
  $("set-b").addEventListener("click", () => setB(S.selected));
  $("reset-sliders").addEventListener("click", () => {
    for (const i of document.querySelectorAll("#sliders input")) {
      i.value = 0;
      i.nextElementSibling.textContent = "0";
    }
    requestDecode();
  });
  for (const r of document.querySelectorAll("input[name=base]")) r.addEventListener("change", requestDecode);
  await loadColour(S.meta.colourings[0]);
  await loadMap(S.meta.maps[0].name);
  requestDecode();
  setStatus("one decode ≈ " + S.meta.decode_ms + " ms");
  $("status").title = "median time of one decode through the run's decoder, measured at start";
  window.zspaceExplorer.ready = true;
}

// for tests and scripting: CSS-pixel position of a row on the canvas, or null
window.zspaceExplorer = {
  ready: false,
  screenPosition(row) {
    const k = mapIndexOf(row);
    if (k < 0) return null;
    const dpr = window.devicePixelRatio || 1, [x, y] = toScreen(k);
    return { x: x / dpr, y: y / dpr };
  },
  state: S,
};

start().catch((err) => setStatus(err.message, true));
