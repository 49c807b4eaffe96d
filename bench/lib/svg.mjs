/**
 * A line chart as hand-written SVG (no dependency): series of { x, y, min?, max? } points,
 * optional log scales, min–max bars, a legend. Enough for "time against history length".
 */

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const esc = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function ticks(lo, hi, log) {
  if (log) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
    return out;
  }
  const span = hi - lo || 1;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= 6) ?? step * 10;
  const out = [];
  for (let v = Math.floor(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

function label(value) {
  if (value >= 1e6 && Number.isInteger(Math.log10(value))) return `10^${Math.log10(value)}`;
  if (value >= 1000) return `${value / 1000}k`;
  return String(Number(value.toPrecision(3)));
}

/** Renders `chart` ({ title, xLabel, yLabel, logX, logY, series }) as an SVG document. */
export function lineChart(chart, { width = 640, height = 400 } = {}) {
  // Legend: two columns under the x-axis label, as many rows as it takes.
  const legendRows = Math.ceil(chart.series.length / 2);
  const margin = { left: 70, right: 20, top: 40, bottom: 66 + legendRows * 16 };
  const points = chart.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const ys = points.flatMap((p) => [p.y, p.min ?? p.y, p.max ?? p.y]).filter((v) => v > 0 || !chart.logY);
  let [xLo, xHi] = [Math.min(...xs), Math.max(...xs)];
  let [yLo, yHi] = [Math.min(...ys), Math.max(...ys)];
  if (chart.logX) [xLo, xHi] = [10 ** Math.floor(Math.log10(xLo)), 10 ** Math.ceil(Math.log10(xHi))];
  if (chart.logY) [yLo, yHi] = [10 ** Math.floor(Math.log10(yLo)), 10 ** Math.ceil(Math.log10(yHi))];
  else [yLo, yHi] = [0, yHi * 1.1 || 1];
  if (xLo === xHi) [xLo, xHi] = [xLo / 2, xHi * 2];
  const w = width - margin.left - margin.right;
  const h = height - margin.top - margin.bottom;
  const sx = (x) =>
    margin.left + (chart.logX ? (Math.log10(x) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo)) : (x - xLo) / (xHi - xLo)) * w;
  const sy = (y) => {
    const v = chart.logY ? (Math.log10(Math.max(y, yLo)) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo)) : (y - yLo) / (yHi - yLo);
    return margin.top + h - v * h;
  };
  const f = (n) => n.toFixed(1);
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(chart.title)}</text>`);
  for (const t of ticks(yLo, yHi, chart.logY)) {
    if (t < yLo || t > yHi) continue;
    out.push(`<line x1="${margin.left}" x2="${margin.left + w}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${label(t)}</text>`);
  }
  for (const t of ticks(xLo, xHi, chart.logX)) {
    if (t < xLo || t > xHi) continue;
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${margin.top}" y2="${margin.top + h}" stroke="#eee"/>`);
    out.push(`<text x="${f(sx(t))}" y="${margin.top + h + 16}" text-anchor="middle">${label(t)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${margin.left + w / 2}" y="${margin.top + h + 36}" text-anchor="middle">${esc(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${margin.top + h / 2}) rotate(-90)" text-anchor="middle">${esc(chart.yLabel)}</text>`);
  chart.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [...series.points].sort((a, b) => a.x - b.x);
    if (pts.length > 1)
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${f(sx(p.x))},${f(sy(p.y))}`).join(' ')}"/>`);
    for (const p of pts) {
      if (p.min !== undefined && p.max !== undefined) {
        out.push(`<line x1="${f(sx(p.x))}" x2="${f(sx(p.x))}" y1="${f(sy(p.min))}" y2="${f(sy(p.max))}" stroke="${color}"/>`);
      }
      out.push(
        `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="3.5" fill="${color}"><title>${esc(`${series.label}: ${p.y} at ${p.x}`)}</title></circle>`,
      );
    }
    const lx = margin.left + (i % 2) * 280;
    const ly = margin.top + h + 58 + Math.floor(i / 2) * 16;
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 24}" y="${ly}">${esc(series.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
