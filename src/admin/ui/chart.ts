/** Live time-series charts with uPlot (served by the broker from node_modules/uplot, no CDN). */
import type uPlot from 'uplot';
import type { Sample } from './api.js';

type UPlotCtor = typeof uPlot;
const VENDOR = '/console/vendor/uPlot.esm.js';
let ctor: Promise<UPlotCtor> | undefined;

export function loadUPlot(): Promise<UPlotCtor> {
  const url = VENDOR;
  ctor ??= import(url).then((m: { default: UPlotCtor }) => m.default);
  return ctor;
}

export interface SeriesDef {
  label: string;
  key: keyof Sample;
  color: string;
}

/** A chart of the last `maxPoints` samples; `push` appends one and redraws. */
export class LiveChart {
  private plot?: uPlot;
  private readonly xs: number[] = [];
  private readonly ys: number[][];
  private readonly resize = () => this.plot?.setSize(this.size());

  constructor(private readonly el: HTMLElement, private readonly title: string, private readonly series: SeriesDef[], private readonly maxPoints = 300) {
    this.ys = series.map(() => []);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(240, this.el.clientWidth - 8), height: 200 };
  }

  async init(history: Sample[]): Promise<void> {
    for (const s of history.slice(-this.maxPoints)) this.add(s);
    const U = await loadUPlot();
    const opts: uPlot.Options = {
      title: this.title,
      ...this.size(),
      series: [{}, ...this.series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: s.color + '22', points: { show: false } }))],
      axes: [{ stroke: '#889' }, { stroke: '#889', size: 60 }],
      scales: { x: { time: true }, y: { range: (_u: uPlot, min: number, max: number) => [0, Math.max(1, max * 1.1, min)] } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    };
    this.plot = new U(opts, this.data(), this.el);
    window.addEventListener('resize', this.resize);
    this.mark();
  }

  private add(s: Sample): void {
    this.xs.push(s.t);
    this.series.forEach((d, i) => this.ys[i].push(Number(s[d.key] ?? 0)));
    if (this.xs.length > this.maxPoints) {
      this.xs.shift();
      for (const y of this.ys) y.shift();
    }
  }

  private data(): uPlot.AlignedData {
    return [this.xs, ...this.ys];
  }

  /** The latest values as data attributes, for people reading the DOM and for tests. */
  private mark(): void {
    this.el.dataset.points = String(this.xs.length);
    this.series.forEach((d, i) => (this.el.dataset[`last${d.label.replace(/\W/g, '')}`] = String(this.ys[i][this.ys[i].length - 1] ?? 0)));
    this.el.dataset.max = String(Math.max(0, ...this.ys.flat()));
  }

  push(s: Sample): void {
    this.add(s);
    this.plot?.setData(this.data());
    this.mark();
  }

  destroy(): void {
    window.removeEventListener('resize', this.resize);
    this.plot?.destroy();
    this.plot = undefined;
  }
}
