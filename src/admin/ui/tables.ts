/** Tables for the console: sortable headers, clickable rows, and paged lists over the API's list endpoints. */
import { get, type Page } from './api.js';
import { append, debounce, h, num, replace, type Child } from './dom.js';
import { every, hashParams, setHashParams } from './page.js';

export interface Col<T> {
  key: string;
  label: string;
  num?: boolean;
  sortable?: boolean;
  /** A cell that may hold long text: cut with an ellipsis (full text on hover) instead of widening the table. */
  clip?: boolean;
  render?: (r: T) => Child;
}

export interface TableOpts<T> {
  sort?: string;
  order?: string;
  onSort?: (key: string) => void;
  empty?: string;
  onRow?: (r: T, tr: HTMLTableRowElement) => void;
  label?: string;
  /** `data-key` of each row (to find it again after a refresh re-rendered the table). */
  rowKey?: (r: T) => string;
  /** Rows get a checkbox; `selected` holds their keys. */
  select?: { key: (r: T) => string; selected: Set<string>; onChange: () => void; label: (r: T) => string };
}

export function renderTable<T extends Record<string, unknown>>(cols: Col<T>[], rows: T[], opts: TableOpts<T> = {}): HTMLElement {
  const sel = opts.select;
  let all: HTMLInputElement | null = null;
  if (sel) {
    all = h('input', { type: 'checkbox', 'aria-label': 'Select all on this page' });
    all.checked = rows.length > 0 && rows.every((r) => sel.selected.has(sel.key(r)));
    all.addEventListener('change', () => {
      for (const r of rows) {
        if (all!.checked) sel.selected.add(sel.key(r));
        else sel.selected.delete(sel.key(r));
      }
      for (const cb of body.querySelectorAll<HTMLInputElement>('input.row-select')) cb.checked = all!.checked;
      sel.onChange();
    });
  }
  const head = h('tr', null, sel ? h('th', { class: 'select' }, all) : null, cols.map((c) => {
    const sorted = opts.sort === c.key;
    const th = h('th', { class: c.num ? 'num' : '', scope: 'col', 'aria-sort': sorted ? (opts.order === 'asc' ? 'ascending' : 'descending') : undefined });
    if (c.sortable && opts.onSort) append(th, [h('button', { type: 'button', class: 'sort', onclick: () => opts.onSort!(c.key) }, c.label, sorted ? (opts.order === 'asc' ? ' ▲' : ' ▼') : '')]);
    else th.textContent = c.label;
    return th;
  }));
  const body = h('tbody', null, rows.length === 0
    ? h('tr', null, h('td', { colspan: cols.length + (sel ? 1 : 0), class: 'empty' }, opts.empty ?? 'Nothing here.'))
    : rows.map((r) => {
      const cells = cols.map((c) => {
        const content = c.render ? c.render(r) : (c.num ? num(r[c.key] as number) : String(r[c.key] ?? ''));
        if (!c.clip) return h('td', { class: c.num ? 'num' : '' }, content);
        const inner = h('span', { class: 'clip' }, content);
        inner.title = inner.textContent ?? '';
        return h('td', { class: 'clip-cell' }, inner);
      });
      let box: HTMLInputElement | null = null;
      if (sel) {
        box = h('input', { type: 'checkbox', class: 'row-select', 'aria-label': `Select ${sel.label(r)}` });
        box.checked = sel.selected.has(sel.key(r));
        box.addEventListener('change', () => {
          if (box!.checked) sel.selected.add(sel.key(r));
          else sel.selected.delete(sel.key(r));
          sel.onChange();
        });
      }
      const tr = h('tr', { 'data-key': opts.rowKey?.(r) }, sel ? h('td', { class: 'select' }, box) : null, cells);
      if (opts.onRow) {
        tr.classList.add('clickable');
        tr.tabIndex = 0;
        tr.addEventListener('click', (e) => {
          if ((e.target as HTMLElement).closest('button, a, input')) return;
          opts.onRow!(r, tr);
        });
        tr.addEventListener('keydown', (e) => {
          if (e.key === 'Enter' && e.target === tr) opts.onRow!(r, tr);
        });
      }
      return tr;
    }));
  return h('div', { class: 'table-wrap' }, h('table', { 'aria-label': opts.label }, h('thead', null, head), body));
}

/**
 * A searchable, sortable, paged list over an API list endpoint. With `inAddress`, its search, sort, order and
 * page live in the address (`#/destinations?filter=orders&sort=depth`), so Back and reload come back to them.
 */
export function pagedList<T extends Record<string, unknown>>(opts: {
  path: string;
  base?: Record<string, string>;
  cols: Col<T>[];
  sort: string;
  order?: 'asc' | 'desc';
  searchLabel: string;
  limit?: number;
  empty?: string;
  label: string;
  refreshMs?: number;
  controls?: Child;
  initialFilter?: string;
  inAddress?: boolean;
  onRow?: (r: T) => void;
  /** Called with each page fetched (e.g. to draw sparklines for its rows). */
  onPage?: (items: T[]) => void;
}): { el: HTMLElement; reload: () => Promise<void>; setBase: (b: Record<string, string>) => void } {
  const url = opts.inAddress ? hashParams() : new URLSearchParams();
  const defOrder = (sort: string) => (sort === 'name' ? 'asc' : 'desc');
  const sort0 = url.get('sort') ?? opts.sort;
  const state = {
    filter: url.get('filter') ?? opts.initialFilter ?? '',
    sort: sort0,
    order: url.get('order') === 'asc' || url.get('order') === 'desc' ? url.get('order')! : sort0 === opts.sort ? (opts.order ?? defOrder(sort0)) : defOrder(sort0),
    offset: Math.max(0, Number(url.get('offset')) || 0),
    limit: opts.limit ?? 50,
    base: opts.base ?? {},
  };
  const remember = () => {
    if (!opts.inAddress) return;
    const p = new URLSearchParams(state.base);
    if (state.filter) p.set('filter', state.filter);
    if (state.sort !== opts.sort) p.set('sort', state.sort);
    if (state.order !== (state.sort === opts.sort ? (opts.order ?? defOrder(state.sort)) : defOrder(state.sort))) p.set('order', state.order);
    if (state.offset) p.set('offset', String(state.offset));
    setHashParams(p);
  };
  const tableBox = h('div', { class: 'list-table' });
  const info = h('span', { class: 'muted pager-info', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => { state.offset = Math.max(0, state.offset - state.limit); void reload(); } }, '‹ Previous');
  const next = h('button', { type: 'button', class: 'secondary', onclick: () => { state.offset += state.limit; void reload(); } }, 'Next ›');
  const search = h('input', { type: 'search', placeholder: opts.searchLabel, 'aria-label': opts.searchLabel, value: state.filter });
  let seq = 0;
  const reload = async () => {
    const my = ++seq;
    remember();
    const p = new URLSearchParams({ ...state.base, sort: state.sort, order: state.order, offset: String(state.offset), limit: String(state.limit) });
    if (state.filter) p.set('filter', state.filter);
    let res: Page<T>;
    try {
      res = await get<Page<T>>(`${opts.path}?${p}`);
    } catch (err) {
      if (my === seq) replace(tableBox, h('p', { class: 'error' }, (err as Error).message));
      return;
    }
    if (my !== seq) return;
    if (res.total > 0 && state.offset >= res.total) {
      state.offset = Math.max(0, Math.floor((res.total - 1) / state.limit) * state.limit);
      return reload();
    }
    replace(tableBox, renderTable(opts.cols, res.items, {
      sort: state.sort,
      order: state.order,
      empty: state.filter ? `Nothing matches “${state.filter}”.` : opts.empty,
      label: opts.label,
      onRow: opts.onRow,
      onSort: (key) => {
        if (state.sort === key) state.order = state.order === 'asc' ? 'desc' : 'asc';
        else {
          state.sort = key;
          state.order = defOrder(key);
        }
        state.offset = 0;
        void reload();
      },
    }));
    info.textContent = res.total === 0 ? '0 items' : `${num(res.offset + 1)}–${num(res.offset + res.items.length)} of ${num(res.total)}`;
    prev.disabled = res.offset === 0;
    next.disabled = res.offset + res.items.length >= res.total;
    opts.onPage?.(res.items);
  };
  search.addEventListener('input', debounce(() => {
    state.filter = search.value.trim();
    state.offset = 0;
    void reload();
  }, 200));
  const el = h('section', { class: 'list' },
    h('div', { class: 'toolbar' }, search, opts.controls),
    tableBox,
    h('div', { class: 'pager' }, prev, info, next),
  );
  void reload();
  if (opts.refreshMs) every(opts.refreshMs, reload);
  return { el, reload, setBase: (b) => { state.base = b; state.offset = 0; void reload(); } };
}

export function stats(items: Array<[string, Child]>, label: string): HTMLElement {
  return h('dl', { class: 'stats', 'aria-label': label }, items.map(([k, v]) => h('div', { class: 'stat', 'data-stat': k }, h('dt', null, k), h('dd', null, v))));
}

export function badge(text: string, kind = ''): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}
