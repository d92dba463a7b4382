/**
 * The live view's page: one self-contained HTML document (inline style and script; line plots as
 * inline SVG, heat maps on a canvas), listening to `/events`. No file, font or library is loaded
 * from anywhere.
 * @internal
 * @module
 */

const STYLE = `
:root { --fg: #222; --muted: #666; --grid: #e8e8e8; --bg: #fafafa; }
* { box-sizing: border-box; }
body { font-family: Helvetica, Arial, sans-serif; margin: 0; padding: 16px 20px; color: var(--fg); background: var(--bg); }
header h1 { font-size: 20px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); font-size: 13px; }
#status { color: var(--fg); font-size: 14px; font-variant-numeric: tabular-nums; }
#conn { display: inline-block; width: 9px; height: 9px; border-radius: 50%; background: #bbb; margin-right: 6px; }
#conn.live { background: #2a9d3a; } #conn.ended { background: #0072B2; } #conn.lost { background: #D55E00; }
#panels { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px; margin-top: 12px; }
figure.panel { margin: 0; background: white; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
figure.panel h2 { font-size: 14px; margin: 0 0 4px; }
figure.panel svg, figure.panel canvas { display: block; width: 100%; height: auto; }
figure.panel img { display: block; max-width: 100%; image-rendering: pixelated; margin: 0 auto; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-top: 4px; }
.legend span.sw { display: inline-block; width: 18px; height: 0; border-top: 2px solid; vertical-align: middle; margin-right: 5px; }
.legend span.sw.dashed { border-top-style: dashed; }
.legend .val { color: var(--muted); font-variant-numeric: tabular-nums; margin-left: 4px; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; }
`

const SCRIPT = `
'use strict';
var PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];
var RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
var W = 560, H = 250, L = 58, R = 12, T = 10, B = 34;
var SVGNS = 'http://www.w3.org/2000/svg';
var SVG_TAGS = ['svg', 'path', 'line', 'text', 'rect', 'g', 'circle', 'defs', 'clipPath'];
var state = { layout: null, series: {}, pictures: {}, panels: {}, dirty: {}, ended: false, events: 0, pointsEvents: 0, draws: 0, drawPending: false };
// For tests and the curious: what has arrived.
window.__live = state;

function el(tag, attrs, parent) {
  var e = SVG_TAGS.indexOf(tag) >= 0 ? document.createElementNS(SVGNS, tag) : document.createElement(tag);
  for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v) {
  if (v === null || v === undefined || !isFinite(v)) return '–';
  var a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}
function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var steps = [1, 2, 2.5, 5, 10], step = 10 * mag;
  for (var i = 0; i < steps.length; i++) if (steps[i] * mag >= raw) { step = steps[i] * mag; break; }
  var out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function build() {
  var lay = state.layout;
  document.title = lay.title;
  document.getElementById('title').textContent = lay.title;
  document.getElementById('subtitle').textContent = lay.subtitle || '';
  var root = document.getElementById('panels');
  root.textContent = '';
  state.panels = {};
  lay.panels.forEach(function (p) {
    var fig = el('figure', { 'class': 'panel', 'data-panel': p.id, 'data-kind': p.kind }, root);
    el('h2', {}, fig).textContent = p.title;
    var view = { spec: p, fig: fig };
    if (p.kind === 'lines') {
      view.svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, width: W, height: H }, fig);
      var leg = el('div', { 'class': 'legend' }, fig);
      view.values = {};
      p.series.forEach(function (s, i) {
        if (!s.color) s.color = PALETTE[i % PALETTE.length];
        if (!state.series[s.id]) state.series[s.id] = { x: [], y: [] };
        var item = el('span', { 'data-series': s.id }, leg);
        el('span', { 'class': 'sw' + (s.dashed ? ' dashed' : ''), style: 'border-color:' + s.color }, item);
        item.appendChild(document.createTextNode(s.label));
        view.values[s.id] = el('span', { 'class': 'val' }, item);
      });
    } else {
      view.holder = el('div', {}, fig);
      view.caption = el('figcaption', {}, fig);
    }
    state.panels[p.id] = view;
    state.dirty[p.id] = true;
  });
  schedule();
}

function drawLines(view) {
  var p = view.spec, svg = view.svg;
  svg.textContent = '';
  var xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, any = false;
  p.series.forEach(function (s) {
    var d = state.series[s.id];
    for (var i = 0; i < d.x.length; i++) {
      var x = d.x[i], y = d.y[i];
      if (x === null) continue;
      if (x < xmin) xmin = x; if (x > xmax) xmax = x;
      if (y === null) continue;
      any = true;
      if (y < ymin) ymin = y; if (y > ymax) ymax = y;
    }
  });
  if (p.xRange) { xmin = p.xRange[0]; xmax = p.xRange[1]; }
  if (!(xmax > xmin)) { xmin = isFinite(xmin) ? xmin : 0; xmax = xmin + 1; }
  if (p.yRange) { ymin = p.yRange[0]; ymax = p.yRange[1]; }
  else {
    (p.yInclude || []).forEach(function (v) { if (v < ymin) ymin = v; if (v > ymax) ymax = v; });
    if (!any && !(p.yInclude || []).length) { ymin = 0; ymax = 1; }
    if (!(ymax > ymin)) { ymin -= 0.5; ymax += 0.5; }
    var pad = (ymax - ymin) * 0.06; ymin -= pad; ymax += pad;
  }
  var sx = function (v) { return L + (v - xmin) / (xmax - xmin) * (W - L - R); };
  var sy = function (v) { return H - B - (v - ymin) / (ymax - ymin) * (H - T - B); };
  el('rect', { x: 0, y: 0, width: W, height: H, fill: 'white' }, svg);
  ticks(xmin, xmax, 6).forEach(function (t) {
    var x = sx(t).toFixed(1);
    el('line', { x1: x, x2: x, y1: T, y2: H - B, stroke: '#e8e8e8' }, svg);
    el('text', { x: x, y: H - B + 15, 'text-anchor': 'middle', 'font-size': 11 }, svg).textContent = fmt(t);
  });
  ticks(ymin, ymax, 5).forEach(function (t) {
    var y = sy(t).toFixed(1);
    el('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#e8e8e8' }, svg);
    el('text', { x: L - 6, y: (+y + 4).toFixed(1), 'text-anchor': 'end', 'font-size': 11 }, svg).textContent = fmt(t);
  });
  el('rect', { x: L, y: T, width: W - L - R, height: H - T - B, fill: 'none', stroke: '#444' }, svg);
  el('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', 'font-size': 12 }, svg).textContent = p.xLabel || 'iteration';
  var yl = el('text', { transform: 'translate(13 ' + ((T + H - B) / 2) + ') rotate(-90)', 'text-anchor': 'middle', 'font-size': 12 }, svg);
  yl.textContent = p.yLabel || '';
  var clipId = 'clip-' + p.id.replace(/[^A-Za-z0-9_-]/g, '_');
  var defs = el('defs', {}, svg);
  var cp = el('clipPath', { id: clipId }, defs);
  el('rect', { x: L, y: T, width: W - L - R, height: H - T - B }, cp);
  var g = el('g', { 'clip-path': 'url(#' + clipId + ')' }, svg);
  p.series.forEach(function (s) {
    var d = state.series[s.id], n = d.x.length, stride = Math.max(1, Math.floor(n / 1500)), parts = [], pen = false, drawn = 0, last = null, lastX = null;
    // At most about 1500 points per line (the last one always).
    var idx = [];
    for (var i = 0; i < n; i += stride) idx.push(i);
    if (n > 0 && idx[idx.length - 1] !== n - 1) idx.push(n - 1);
    idx.forEach(function (k) {
      var y = d.y[k];
      if (y === null || d.x[k] === null) { pen = false; return; }
      parts.push((pen ? 'L' : 'M') + sx(d.x[k]).toFixed(1) + ' ' + sy(y).toFixed(1));
      pen = true; drawn++;
    });
    for (var j = n - 1; j >= 0; j--) if (d.y[j] !== null) { last = d.y[j]; lastX = d.x[j]; break; }
    var path = el('path', { d: parts.join(''), fill: 'none', stroke: s.color, 'stroke-width': 1.6, 'data-series': s.id, 'data-points': drawn }, g);
    if (s.dashed) path.setAttribute('stroke-dasharray', '6 4');
    if (drawn === 1) el('circle', { cx: sx(lastX), cy: sy(last), r: 2.5, fill: s.color }, g);
    view.values[s.id].textContent = n > 0 ? fmt(last) : '';
  });
}

function ramp(t) {
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  var f = t * (RAMP.length - 1), i = Math.min(Math.floor(f), RAMP.length - 2), u = f - i, a = RAMP[i], b = RAMP[i + 1];
  return [a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u, a[2] + (b[2] - a[2]) * u];
}

function drawPicture(view) {
  var pic = state.pictures[view.spec.id];
  if (!pic) return;
  view.holder.textContent = '';
  view.caption.textContent = pic.caption || '';
  if (pic.type === 'image') {
    el('img', { src: pic.src, alt: view.spec.title }, view.holder);
    return;
  }
  // Plot area with the data's aspect ratio (height within 100..400 px), the canvas around it.
  var dx = pic.xRange[1] - pic.xRange[0], dy = pic.yRange[1] - pic.yRange[0];
  var aw = W - L - R, ah = dx > 0 && dy > 0 ? Math.round(aw * dy / dx) : H - T - B;
  if (ah > 400) { aw = Math.round(aw * 400 / ah); ah = 400; }
  if (ah < 100) ah = 100;
  var cw = W, ch = ah + T + B;
  var canvas = el('canvas', { width: cw, height: ch, 'data-dots': 0 }, view.holder);
  var ctx = canvas.getContext('2d');
  ctx.fillStyle = 'white'; ctx.fillRect(0, 0, cw, ch);
  var x0 = L + Math.round((cw - L - R - aw) / 2), y0 = T;
  var vmin = Infinity, vmax = -Infinity;
  pic.values.forEach(function (v) { if (v !== null) { if (v < vmin) vmin = v; if (v > vmax) vmax = v; } });
  if (!(vmax > vmin)) { vmax = vmin + 1; }
  var img = ctx.createImageData(pic.nx, pic.ny);
  for (var r = 0; r < pic.ny; r++) for (var c = 0; c < pic.nx; c++) {
    var v = pic.values[r * pic.nx + c], col = ramp(v === null ? 0 : (v - vmin) / (vmax - vmin));
    var o = ((pic.ny - 1 - r) * pic.nx + c) * 4;
    img.data[o] = col[0]; img.data[o + 1] = col[1]; img.data[o + 2] = col[2]; img.data[o + 3] = 255;
  }
  var tmp = document.createElement('canvas'); tmp.width = pic.nx; tmp.height = pic.ny;
  tmp.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(tmp, x0, y0, aw, ah);
  var sx = function (v) { return x0 + (v - pic.xRange[0]) / dx * aw; };
  var sy = function (v) { return y0 + ah - (v - pic.yRange[0]) / dy * ah; };
  ctx.fillStyle = '#222'; ctx.font = '11px Helvetica, Arial, sans-serif'; ctx.textAlign = 'center';
  ticks(pic.xRange[0], pic.xRange[1], 6).forEach(function (t) { ctx.fillText(fmt(t), sx(t), y0 + ah + 14); });
  ctx.textAlign = 'right';
  ticks(pic.yRange[0], pic.yRange[1], 4).forEach(function (t) { ctx.fillText(fmt(t), x0 - 5, sy(t) + 4); });
  ctx.textAlign = 'center';
  if (pic.xLabel) ctx.fillText(pic.xLabel, x0 + aw / 2, ch - 4);
  if (pic.yLabel) { ctx.save(); ctx.translate(x0 - 36, y0 + ah / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(pic.yLabel, 0, 0); ctx.restore(); }
  ctx.strokeStyle = '#444'; ctx.strokeRect(x0 + 0.5, y0 + 0.5, aw - 1, ah - 1);
  var dots = pic.dots, drawn = 0;
  if (dots) {
    ctx.save();
    ctx.beginPath(); ctx.rect(x0, y0, aw, ah); ctx.clip();
    ctx.lineWidth = 0.7; ctx.strokeStyle = 'rgba(20, 20, 20, 0.8)'; ctx.fillStyle = dots.color || 'rgba(255, 255, 255, 0.85)';
    for (var i = 0; i < dots.x.length; i++) {
      if (dots.x[i] === null || dots.y[i] === null) continue;
      var s = dots.size ? dots.size[i] : 1;
      if (s === null || !(s > 0)) continue;
      var rad = Math.min(9, Math.max(0.9, 2.2 * Math.sqrt(s)));
      ctx.beginPath(); ctx.arc(sx(dots.x[i]), sy(dots.y[i]), rad, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
      drawn++;
    }
    ctx.restore();
  }
  canvas.setAttribute('data-dots', drawn);
}

function schedule() {
  if (state.drawPending) return;
  state.drawPending = true;
  // At most about 4 redraws a second; a hidden tab draws when shown.
  setTimeout(function () { requestAnimationFrame(redraw); }, 250);
}
function redraw() {
  state.drawPending = false;
  for (var id in state.dirty) {
    var view = state.panels[id];
    if (!view) continue;
    if (view.spec.kind === 'lines') drawLines(view); else drawPicture(view);
  }
  state.dirty = {};
  state.draws++;
}

function panelOfSeries(id) {
  var lay = state.layout;
  if (!lay) return null;
  for (var i = 0; i < lay.panels.length; i++) {
    var p = lay.panels[i];
    if (p.kind === 'lines') for (var j = 0; j < p.series.length; j++) if (p.series[j].id === id) return p.id;
  }
  return null;
}

function connect() {
  var conn = document.getElementById('conn');
  var es = new EventSource('events');
  es.onopen = function () { if (!state.ended) conn.className = 'live'; };
  es.onerror = function () { if (!state.ended) conn.className = 'lost'; };
  es.addEventListener('layout', function (e) { state.events++; state.layout = JSON.parse(e.data); build(); });
  es.addEventListener('points', function (e) {
    state.events++;
    state.pointsEvents++;
    var s = JSON.parse(e.data).s;
    for (var id in s) {
      var d = state.series[id] || (state.series[id] = { x: [], y: [] }), a = s[id];
      for (var i = 0; i < a.length; i += 2) { d.x.push(a[i]); d.y.push(a[i + 1]); }
      var p = panelOfSeries(id);
      if (p) state.dirty[p] = true;
    }
    schedule();
  });
  es.addEventListener('picture', function (e) {
    state.events++;
    var m = JSON.parse(e.data);
    state.pictures[m.panel] = m.picture;
    state.dirty[m.panel] = true;
    schedule();
  });
  es.addEventListener('status', function (e) { state.events++; document.getElementById('status').textContent = JSON.parse(e.data).text; });
  es.addEventListener('end', function (e) {
    state.events++;
    state.ended = true;
    conn.className = 'ended';
    document.getElementById('status').textContent = JSON.parse(e.data).text;
    es.close();
    schedule();
  });
}
connect();
`

/** The page, as served at `/`. */
export function livePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>jarzyn live</title>
<style>${STYLE}</style></head>
<body>
<header><h1 id="title">jarzyn live</h1><p id="subtitle"></p><p><span id="conn" title="connection"></span><span id="status">connecting…</span></p></header>
<main id="panels"></main>
<script>${SCRIPT}</script>
</body></html>
`
}
