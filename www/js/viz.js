// Drawing: a viridis colour map, heatmaps on canvases, and small line charts.

// Viridis, sampled at 11 stops (matplotlib's), linearly interpolated.
const VIRIDIS = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142], [32, 144, 140],
  [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];

export function viridis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

// A diverging map for signed values (PE, similarities): t in [0,1], blue - white - red.
export function diverging(t) {
  const x = Math.min(1, Math.max(-1, Number.isFinite(t) ? 2 * t - 1 : 0));
  return x < 0 ? [255 * (1 + x), 255 * (1 + x), 255] : [255, 255 * (1 - x), 255 * (1 - x)];
}

// Draws rows x cols values (row-major, offset `off`) into `canvas`, one cell per value,
// scaled to the canvas size. `color` maps a value to [r,g,b]; `mask(r,c)` true paints grey.
export function heatmap(canvas, data, rows, cols, { off = 0, color = viridis, mask = null, lo = 0, hi = 1 } = {}) {
  const w = canvas.width, h = canvas.height;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  const span = hi - lo || 1;
  for (let y = 0; y < h; y++) {
    const r = Math.min(rows - 1, Math.floor((y * rows) / h));
    for (let x = 0; x < w; x++) {
      const c = Math.min(cols - 1, Math.floor((x * cols) / w));
      const p = (y * w + x) * 4;
      let rgb;
      if (mask && mask(r, c)) rgb = [46, 46, 52];
      else rgb = color((data[off + r * cols + c] - lo) / span);
      img.data[p] = rgb[0]; img.data[p + 1] = rgb[1]; img.data[p + 2] = rgb[2]; img.data[p + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

// A colour-scale legend bar with its end labels.
export function legend(canvas, color, lo, hi) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  for (let x = 0; x < w; x++) {
    const t = x / (w - 1);
    const [r, g, b] = color(t);
    ctx.fillStyle = `rgb(${r|0},${g|0},${b|0})`;
    ctx.fillRect(x, 0, 1, h - 14);
  }
  ctx.fillStyle = getComputedStyle(canvas).color || '#ccc';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'bottom';
  ctx.textAlign = 'left'; ctx.fillText(lo, 0, h);
  ctx.textAlign = 'right'; ctx.fillText(hi, w, h);
}

// A canvas sized to its CSS box at the device's pixel ratio, cleared: its 2-D context (in CSS
// pixels) and that box's width and height.
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const cw = canvas.clientWidth || canvas.width, ch = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(cw * dpr); canvas.height = Math.round(ch * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, cw, ch);
  return { ctx, cw, ch };
}

// Line chart: series = [{points: [[x,y]...], color, label, right?, dots?}], with axes and a
// legend. Series with `right` use a second axis on the right running 0..1 (accuracy).
export function lineChart(canvas, series, { yLabel = '', xLabel = 'step', xMax = null, empty = '' } = {}) {
  const { ctx, cw, ch } = fitCanvas(canvas);
  const hasRight = series.some((s) => s.right && s.points.length);
  const pad = { l: 44, r: hasRight ? 38 : 12, t: 22, b: 22 };
  const left = series.filter((s) => !s.right);
  const all = series.flatMap((s) => s.points);
  const fg = getComputedStyle(canvas).color || '#ccc';
  const W = cw - pad.l - pad.r, H = ch - pad.t - pad.b;
  ctx.strokeStyle = fg; ctx.fillStyle = fg; ctx.globalAlpha = 0.35;
  ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, W, H);
  ctx.globalAlpha = 1;
  ctx.font = '11px system-ui, sans-serif';
  if (!all.length) {
    if (empty) { ctx.textAlign = 'center'; ctx.textBaseline = 'middle'; ctx.fillText(empty, pad.l + W / 2, pad.t + H / 2); }
    return;
  }
  const x1 = xMax ?? Math.max(...all.map((p) => p[0]), 1);
  const ys = left.flatMap((s) => s.points).map((p) => p[1]).filter(Number.isFinite);
  let y0 = ys.length ? Math.min(...ys) : 0, y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-6) { y0 -= 0.5; y1 += 0.5; }
  const m = (y1 - y0) * 0.05; y0 -= m; y1 += m;
  const X = (x) => pad.l + (x / x1) * W;
  const Y = (y) => pad.t + (1 - (y - y0) / (y1 - y0)) * H;
  const YR = (y) => pad.t + (1 - y) * H;
  ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    ctx.globalAlpha = 0.12; ctx.beginPath(); ctx.moveTo(pad.l, Y(y)); ctx.lineTo(pad.l + W, Y(y)); ctx.stroke(); ctx.globalAlpha = 1;
    ctx.fillText(Math.abs(y1 - y0) < 0.2 ? y.toFixed(3) : y.toFixed(2), pad.l - 4, Y(y));
  }
  if (hasRight) {
    ctx.textAlign = 'left';
    for (let k = 0; k <= 4; k++) ctx.fillText(`${k * 25}%`, pad.l + W + 4, YR(k / 4));
  }
  ctx.textBaseline = 'top';
  ctx.textAlign = 'left'; ctx.fillText('0', pad.l, ch - pad.b + 5);
  ctx.textAlign = 'right'; ctx.fillText(`${xLabel} ${Math.round(x1)}`, pad.l + W, ch - pad.b + 5);
  ctx.textAlign = 'center'; ctx.fillText(yLabel ? `${yLabel} ↑` : '', pad.l + W / 2, ch - pad.b + 5);
  // legend along the top
  let lx = pad.l;
  ctx.textAlign = 'left'; ctx.textBaseline = 'middle';
  for (const s of series) {
    if (!s.points.length) continue;
    ctx.fillStyle = s.color; ctx.fillRect(lx, 8, 10, 3);
    ctx.fillText(s.label, lx + 14, 10);
    lx += ctx.measureText(s.label).width + 28;
  }
  for (const s of series) {
    const Yf = s.right ? YR : Y;
    ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.6;
    ctx.globalAlpha = s.right ? 0.8 : 1;
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Yf(y)) : ctx.moveTo(X(x), Yf(y))));
    ctx.stroke();
    if (s.dots) for (const [x, y] of s.points) { ctx.beginPath(); ctx.arc(X(x), Yf(y), 2.5, 0, 7); ctx.fill(); }
    ctx.globalAlpha = 1;
  }
}

// Keeps at most `max` points by dropping every other one when full (the chart's history
// stays bounded however long training runs). Every other point of the whole history goes, the
// newest kept, so the early steps stay as dense as the late ones (thinning only the oldest half
// again and again left a long run's first steps as one straight line).
export function pushDecimated(points, p, max = 600) {
  points.push(p);
  if (points.length > max) {
    const kept = points.filter((_, i) => i % 2 === 0 || i === points.length - 1);
    points.length = 0;
    points.push(...kept);
  }
}
