/**
 * History in the console: a destination's depth and in/out/redelivered charts over the last hour (10 s buckets)
 * or 24 h (5 min buckets), and sparklines for list rows. The broker keeps the data (src/admin/history.ts).
 */
import type uPlot from 'uplot';
import { enc, get } from './api.js';
import { loadUPlot } from './chart.js';
import { h, replace } from './dom.js';
import { every } from './page.js';

interface HistoryData {
  tracked: boolean;
  step: number;
  t: number[];
  series: { depth: number[]; in: number[]; out: number[]; redelivered: number[] };
}

/** Charts for one destination in `el`; refreshed every 10 s while the page is shown. */
export function historyCharts(el: HTMLElement, kind: 'queue' | 'topic' | 'subscription', name: string): { destroy: () => void } {
  let range: '1h' | '24h' = '1h';
  const plots: uPlot[] = [];
  const depthEl = h('div', { class: 'chart small', id: 'history-depth', 'aria-label': 'Depth history' });
  const flowEl = h('div', { class: 'chart small', id: 'history-flow', 'aria-label': 'In, out and redelivered history' });
  const note = h('p', { class: 'muted', id: 'history-note' });
  const btn = (r: '1h' | '24h', label: string) => h('button', { type: 'button', class: 'secondary small', 'aria-pressed': String(r === range), onclick: () => { range = r; for (const b of el.querySelectorAll('[data-range]')) b.setAttribute('aria-pressed', String(b.getAttribute('data-range') === r)); void load(); }, 'data-range': r }, label);
  replace(el,
    h('div', { class: 'history-head' }, h('h2', null, 'History'), h('div', { class: 'actions' }, btn('1h', 'Last hour'), btn('24h', 'Last 24 h'))),
    note,
    h('div', { class: 'charts' }, depthEl, flowEl),
  );
  const size = (e: HTMLElement) => ({ width: Math.max(240, e.clientWidth - 8), height: 150 });
  const draw = (U: typeof uPlot, target: HTMLElement, title: string, xs: number[], series: Array<{ label: string; color: string; ys: number[] }>) => {
    const opts: uPlot.Options = {
      title,
      ...size(target),
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, fill: s.color + '1f', points: { show: false } }))],
      axes: [{ stroke: '#889' }, { stroke: '#889', size: 56 }],
      scales: { x: { time: true }, y: { range: (_u: uPlot, _min: number, max: number) => [0, Math.max(1, max * 1.1)] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    replace(target);
    plots.push(new U(opts, [xs, ...series.map((s) => s.ys)], target));
    target.dataset.points = String(xs.length);
    for (const s of series) target.dataset[`sum${s.label}`] = String(s.ys.reduce((a, b) => a + b, 0));
    target.dataset.last = String(series[0].ys[series[0].ys.length - 1] ?? 0);
  };
  const load = async () => {
    const d = await get<HistoryData>(`/api/history/${kind}/${enc(name)}?range=${range}`);
    const U = await loadUPlot();
    for (const p of plots.splice(0)) p.destroy();
    el.dataset.tracked = String(d.tracked);
    note.textContent = d.tracked ? `${d.step === 10 ? '10-second' : '5-minute'} buckets; in/out/redelivered are messages per bucket.` : 'No traffic since the broker started: nothing to chart yet.';
    if (!d.tracked) return;
    // a topic holds nothing (its subscriptions do): no depth chart
    depthEl.hidden = kind === 'topic';
    if (kind !== 'topic') draw(U, depthEl, 'Messages held', d.t, [{ label: 'depth', color: '#7c3aed', ys: d.series.depth }]);
    draw(U, flowEl, 'Messages per bucket', d.t, [
      { label: 'in', color: '#2f7de1', ys: d.series.in },
      { label: 'out', color: '#16a34a', ys: d.series.out },
      { label: 'redelivered', color: '#d97706', ys: d.series.redelivered },
    ]);
  };
  void load().catch(() => undefined);
  every(10_000, load);
  return { destroy: () => { for (const p of plots.splice(0)) p.destroy(); } };
}

/** A small SVG line of `ys` (no library: 50 rows of these must stay cheap). */
export function sparkline(ys: number[], label: string): SVGSVGElement {
  const W = 90, H = 20;
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', String(W));
  svg.setAttribute('height', String(H));
  svg.setAttribute('class', 'spark');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...ys);
  svg.setAttribute('aria-label', `${label}: max ${Math.round(Math.max(0, ...ys))}, now ${Math.round(ys[ys.length - 1] ?? 0)}`);
  const line = document.createElementNS(NS, 'polyline');
  const n = Math.max(1, ys.length - 1);
  line.setAttribute('points', ys.map((y, i) => `${((i / n) * W).toFixed(1)},${(H - 1 - (y / max) * (H - 2)).toFixed(1)}`).join(' '));
  svg.appendChild(line);
  return svg;
}

/** Fill the `[data-spark]` cells of a list page with the last 15 minutes of depth (queues) or messages in (topics). */
export async function fillSparklines(root: HTMLElement, kind: 'queue' | 'topic' | 'subscription', names: string[]): Promise<void> {
  if (names.length === 0) return;
  const r = await get<{ items: Record<string, { depth: number[]; in: number[] }> }>(`/api/history/sparklines?kind=${kind}&names=${names.map(enc).join(',')}`);
  for (const cell of root.querySelectorAll<HTMLElement>(`[data-spark-kind="${kind}"]`)) {
    const n = cell.dataset.spark ?? '';
    const s = r.items[n];
    if (!s) {
      cell.textContent = '';
      continue;
    }
    const ys = kind === 'topic' ? s.in : s.depth;
    replace(cell, sparkline(ys, kind === 'topic' ? `${n} messages in, last 15 minutes` : `${n} depth, last 15 minutes`));
  }
}
