/**
 * Policies: every destination's effective policy and its runtime override, editable (admin) as a durable override
 * through the policies REST API (`GET /api/policies`, `PUT|DELETE /api/policies/{kind}/{name}`).
 */
import { ApiError, del, enc, get, put } from './api.js';
import { h, replace } from './dom.js';
import { act, isAdmin, page } from './page.js';
import { renderTable } from './tables.js';

interface PolicyRow extends Record<string, unknown> {
  kind: string;
  name: string;
  effective?: Record<string, unknown>;
  policy?: Record<string, unknown>;
  override?: Record<string, unknown> | null;
  /** Kept by a service (e.g. `sqs` from a queue's attributes): not edited here. */
  managedBy?: string | null;
}

function differs(p: Record<string, unknown> | undefined, defaults: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!p) return {};
  return Object.fromEntries(Object.entries(p).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(defaults?.[k])));
}

const fmt = (o: unknown) => (o && typeof o === 'object' && Object.keys(o).length ? Object.entries(o as Record<string, unknown>).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ') : '—');

export async function policiesPage(): Promise<void> {
  const box = h('div');
  const editor = h('div');
  page('Policies', h('h1', null, 'Policies'), h('p', { class: 'muted' }, 'The destination policies in effect (configuration rules plus runtime overrides). An override is stored durably and exported with the definitions.'), box, editor);
  const load = async () => {
    let r: unknown;
    try {
      r = await get('/api/policies');
    } catch (err) {
      replace(box, h('p', { class: 'error', role: 'alert' }, err instanceof ApiError ? err.message : String(err)));
      return;
    }
    const o = r as { items: PolicyRow[]; defaults?: Record<string, unknown> };
    replace(box, renderTable<PolicyRow>([
      { key: 'kind', label: 'Kind' },
      { key: 'name', label: 'Destination', clip: true },
      { key: 'override', label: 'Override', clip: true, render: (p) => fmt(p.override) },
      // only what differs from the defaults: the full policy is long and mostly the same everywhere
      { key: 'effective', label: 'Effective (besides the defaults)', clip: true, render: (p) => fmt(differs(p.effective ?? p.policy, o.defaults)) },
      ...(isAdmin() ? [{ key: 'edit', label: '', render: (p: PolicyRow) => (p.managedBy ? h('span', { class: 'muted', title: `kept by the ${p.managedBy.toUpperCase()} service from the queue's attributes` }, `set by ${p.managedBy.toUpperCase()}`) : h('button', { type: 'button', class: 'secondary small', 'aria-label': `Edit ${p.kind} ${p.name}`, onclick: () => edit(p) }, 'Edit')) }] : []),
    ], o.items, { label: 'Policies', empty: 'No destinations yet.' }));
  };
  const edit = (p: PolicyRow) => {
    const text = h('textarea', { rows: 8, 'aria-label': 'Override (JSON)' });
    text.value = JSON.stringify(p.override ?? {}, null, 2);
    const err = h('p', { class: 'error', role: 'alert' });
    replace(editor, h('form', {
      class: 'card',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        let body: unknown;
        try {
          body = JSON.parse(text.value);
        } catch {
          err.textContent = 'Not JSON: write the override as an object, e.g. {"maxRedeliveries": 3}';
          return;
        }
        if (await act(() => put(`/api/policies/${enc(p.kind)}/${enc(p.name)}`, body), `Override saved for ${p.name}`)) {
          replace(editor);
          await load();
        }
      },
    },
      h('h2', null, `Override for ${p.kind} ${p.name}`), text, err,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Save override'),
        p.override ? h('button', { type: 'button', class: 'danger', onclick: async () => { if (await act(() => del(`/api/policies/${enc(p.kind)}/${enc(p.name)}`), `Override removed for ${p.name}`)) { replace(editor); await load(); } } }, 'Remove override') : null,
        h('button', { type: 'button', class: 'secondary', onclick: () => replace(editor) }, 'Cancel'),
      ),
    ));
    text.focus();
  };
  await load();
}
