/**
 * `nsa-bench report`: one self-contained HTML page (Chart.js and the data inlined; nothing fetched at
 * view time) with the device and date, a table and a bar chart (µs per case, the byte floor marked)
 * per suite, a roofline, the ratio to a peers file, and with two bench files a before/after comparison.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BenchFile, bySuite, compareRuns, floorUs, PeerEntry, peerOf, peerRatios, rooflinePoints, TENSOR_PEAK_TFLOPS } from './data';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const num = (v: number | undefined, d = 2) => (v === undefined || !Number.isFinite(v) ? '-' : v >= 1000 ? v.toFixed(0) : v.toFixed(d));

/** The chart library's browser build (dist/chart.umd.min.js, beside its CommonJS entry), inlined. */
function chartJsSource(): string {
  return fs.readFileSync(path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

export function renderReport(files: BenchFile[], peers: PeerEntry[] = []): string {
  if (files.length === 0) throw new Error('report: no bench file');
  const run = files[files.length - 1];
  const ratios = peerRatios(run.results, peers);
  const device = run.devices?.[0]?.name ?? run.device;
  const charts: unknown[] = [];
  const sections: string[] = [];

  for (const [suite, rows] of bySuite(run.results)) {
    const id = `suite-${charts.length}`;
    charts.push({
      id,
      type: 'bar',
      data: {
        labels: rows.map((r) => r.case),
        datasets: [
          { type: 'bar', label: 'µs', data: rows.map((r) => r.us), backgroundColor: '#4e79a7' },
          { type: 'line', label: 'byte floor µs', data: rows.map((r) => floorUs(r, run.copyGBps) ?? null), borderColor: '#e15759', backgroundColor: '#e15759', showLine: false, pointStyle: 'line', pointRadius: 12, pointBorderWidth: 3 },
        ],
      },
      options: { indexAxis: 'y', animation: false, responsive: true, maintainAspectRatio: false, scales: { x: { type: 'logarithmic', title: { display: true, text: 'µs (log)' } } } },
      height: 60 + rows.length * 22,
    });
    const body = rows
      .map((r) => {
        const p = peerOf(ratios, r);
        return `<tr><td>${esc(r.case)}</td><td>${num(r.us)}</td><td>${num(floorUs(r, run.copyGBps))}</td><td>${r.pctOfFloor === undefined ? '-' : r.pctOfFloor.toFixed(0) + ' %'}</td><td>${num(r.gbps, 0)}</td><td>${p ? `${num(p.peer.us)} (${esc(p.peer.source)})` : '-'}</td><td>${p ? p.ratio.toFixed(2) + 'x' : '-'}</td></tr>`;
      })
      .join('\n');
    sections.push(`<section><h2>${esc(suite)}</h2>
<div class="chart" style="height:${60 + rows.length * 22}px"><canvas id="${id}"></canvas></div>
<table><tr><th>case</th><th>µs</th><th>floor µs</th><th>% floor</th><th>GB/s</th><th>peer µs</th><th>ours / peer</th></tr>
${body}</table></section>`);
  }

  // Roofline: achieved TFLOP/s against FLOP per byte, under the copy bandwidth and the tensor-core peaks.
  const pts = rooflinePoints(run.results);
  if (pts.length) {
    const xs = pts.map((p) => p.intensity);
    const lo = Math.min(...xs) / 4, hi = Math.max(...xs) * 16;
    const ceil = (peak: number) => [lo, hi].map((x) => ({ x, y: Math.min((run.copyGBps * x) / 1e3, peak) })).concat([{ x: (peak * 1e3) / run.copyGBps, y: peak }]).sort((a, b) => a.x - b.x);
    charts.push({
      id: 'roofline',
      type: 'scatter',
      data: {
        datasets: [
          { label: 'cases', data: pts.map((p) => ({ x: p.intensity, y: p.tflops, label: p.label })), backgroundColor: '#4e79a7', pointRadius: 5 },
          { label: `copy ${run.copyGBps.toFixed(0)} GB/s / f16 ${TENSOR_PEAK_TFLOPS.f16} TFLOP/s`, data: ceil(TENSOR_PEAK_TFLOPS.f16), showLine: true, borderColor: '#e15759', pointRadius: 0 },
          { label: `fp8 ${TENSOR_PEAK_TFLOPS.fp8} TFLOP/s`, data: ceil(TENSOR_PEAK_TFLOPS.fp8), showLine: true, borderColor: '#f28e2b', borderDash: [6, 4], pointRadius: 0 },
        ],
      },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { type: 'logarithmic', title: { display: true, text: 'FLOP / byte' } }, y: { type: 'logarithmic', title: { display: true, text: 'TFLOP/s' } } } },
    });
    sections.unshift(`<section><h2>Roofline</h2><p>Cases with a known FLOP count, against the measured copy bandwidth and the H100's dense tensor-core peaks.</p><div class="chart" style="height:360px"><canvas id="roofline"></canvas></div></section>`);
  }

  // Before / after.
  if (files.length >= 2) {
    const changes = compareRuns(files[0], run);
    charts.push({
      id: 'compare',
      type: 'bar',
      data: { labels: changes.map((c) => `${c.suite} ${c.case}`), datasets: [{ label: 'before µs', data: changes.map((c) => c.beforeUs), backgroundColor: '#bab0ac' }, { label: 'after µs', data: changes.map((c) => c.afterUs), backgroundColor: '#4e79a7' }] },
      options: { indexAxis: 'y', animation: false, maintainAspectRatio: false, scales: { x: { type: 'logarithmic' } } },
    });
    const rows = changes.map((c) => `<tr><td>${esc(c.suite)}</td><td>${esc(c.case)}</td><td>${num(c.beforeUs)}</td><td>${num(c.afterUs)}</td><td class="${c.change < 0 ? 'good' : 'bad'}">${(100 * c.change).toFixed(1)} %</td></tr>`).join('\n');
    sections.unshift(`<section><h2>Before / after</h2><p>${esc(files[0].date)} → ${esc(run.date)}; ${changes.length} cases in both runs.</p>
<div class="chart" style="height:${80 + changes.length * 26}px"><canvas id="compare"></canvas></div>
<table><tr><th>suite</th><th>case</th><th>before µs</th><th>after µs</th><th>change</th></tr>${rows}</table></section>`);
  }

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nsa-kernels benchmark report — ${esc(device)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 24px; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } .chart { position: relative; max-width: 1100px; }
.good { color: #2a7a2a; } .bad { color: #b22; }
</style></head><body>
<h1>nsa-kernels benchmark report</h1>
<p><b>${esc(device)}</b> (${esc(run.device)}, ${esc(run.backend?.backend ?? '')}) · ${esc(run.date)} · copy bandwidth ${run.copyGBps.toFixed(0)} GB/s (the floor: bytes / this)${peers.length ? ` · peers: ${peers.length} entries` : ''}</p>
${sections.join('\n')}
<script>${chartJsSource()}</script>
<script>
const charts = ${JSON.stringify(charts)};
for (const c of charts) new Chart(document.getElementById(c.id), { type: c.type, data: c.data, options: c.options });
window.reportReady = true;
</script>
</body></html>
`;
}
