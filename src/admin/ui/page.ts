/** What every console page shares: the logged-in user, the page's lifetime (timers, streams), actions with toasts. */
import { enc, type User } from './api.js';
import { $, h, replace, toast, type Child } from './dom.js';

export const session: { user: User | null } = { user: null };
export const isAdmin = (): boolean => session.user?.role === 'admin';

let cleanup: Array<() => void> = [];

/** Run `fn` when the page is left (timers, event streams, charts). */
export function onLeave(fn: () => void): void {
  cleanup.push(fn);
}

export function leavePage(): void {
  const fns = cleanup;
  cleanup = [];
  for (const f of fns) {
    try {
      f();
    } catch {
      // keep leaving
    }
  }
}

/** Repeat `fn` every `ms` while this page is shown (skipped while the tab is hidden). */
export function every(ms: number, fn: () => unknown): void {
  const t = setInterval(() => {
    if (!document.hidden) void Promise.resolve(fn()).catch(() => undefined);
  }, ms);
  onLeave(() => clearInterval(t));
}

/** Run an action; errors become a toast. */
export async function act(fn: () => Promise<unknown>, ok?: string): Promise<boolean> {
  try {
    await fn();
    if (ok) toast(ok);
    return true;
  } catch (err) {
    toast(err instanceof Error ? err.message : String(err), 'error');
    return false;
  }
}

export function page(title: string, ...children: Child[]): void {
  document.title = `${title} · Wharf`;
  const main = $('#main');
  // a page marks itself ready (data-ready) once its data is shown: a new page starts unready
  delete main.dataset.ready;
  replace(main, ...children);
}

export const link = (kind: string, name: string, text: Child = name): HTMLAnchorElement => h('a', { href: `#/${kind}/${enc(name)}` }, text);

/** The current route's query (`#/destinations?filter=x` → filter=x). */
export function hashParams(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

/** Put a page's state (search, sort, paging) into the address without navigating, so Back and reload keep it. */
export function setHashParams(p: URLSearchParams): void {
  const path = location.hash.split('?')[0] || '#/';
  const q = p.toString();
  const next = q ? `${path}?${q}` : path;
  if (next !== location.hash) history.replaceState(history.state, '', next);
}
