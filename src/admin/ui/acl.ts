/**
 * The console's ACL page (#/acl): the destination access rules in force — `security.acl` from the configuration file
 * (read-only here) and the runtime rules (`/api/security/acl`), which an admin can add and delete. A change applies
 * at once: consumers whose user may no longer read their destination are closed by the broker.
 */
import { del, get, post } from './api.js';
import { confirmDialog, h, replace, time, toast, type Child } from './dom.js';

interface Rule {
  id?: string;
  match: string;
  kind?: 'queue' | 'topic';
  read?: string[];
  write?: string[];
  admin?: string[];
  created?: number;
  by?: string;
}

export interface AclPageHost {
  /** The signed-in user may change things (role admin). */
  admin: boolean;
  /** Show a page: document title and the main area's content. */
  page(title: string, ...children: Child[]): void;
}

const names = (l?: string[]) => (l?.length ? l.join(', ') : '—');
const list = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);

function rulesTable(rules: Rule[], label: string, onDelete?: (r: Rule) => void): HTMLElement {
  const head = ['Match', 'Kind', 'Read', 'Write', 'Admin', ...(onDelete ? ['Added', ''] : [])];
  return h('table', { class: 'table', 'aria-label': label },
    h('thead', null, h('tr', null, ...head.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null,
      rules.length === 0
        ? h('tr', null, h('td', { colspan: head.length, class: 'muted' }, 'No rules.'))
        : rules.map((r) => h('tr', { 'data-rule': r.id ?? '' },
          h('td', null, h('code', null, r.match)),
          h('td', null, r.kind ?? 'queue + topic'),
          h('td', null, names(r.read)),
          h('td', null, names(r.write)),
          h('td', null, names(r.admin)),
          onDelete ? h('td', null, `${time(r.created)}${r.by ? ` by ${r.by}` : ''}`) : null,
          onDelete ? h('td', null, h('button', { type: 'button', class: 'danger small', onclick: () => onDelete(r) }, 'Delete')) : null,
        )),
    ),
  );
}

export async function aclPage(host: AclPageHost): Promise<void> {
  const box = h('div');
  const load = async () => {
    const r = await get<{ config: Rule[]; runtime: Rule[] }>('/api/security/acl');
    const none = r.config.length + r.runtime.length === 0;
    replace(box,
      none ? h('p', { class: 'notice' }, 'No rules: every authenticated user may do everything. The first rule turns that off — only what some rule grants is allowed.') : null,
      h('h2', null, 'Runtime rules'),
      rulesTable(r.runtime, 'Runtime ACL rules', host.admin ? (rule) => void remove(rule) : undefined),
      h('h2', null, 'From the configuration file'),
      rulesTable(r.config, 'Configured ACL rules'),
    );
  };
  const remove = async (r: Rule) => {
    if (!r.id || !(await confirmDialog(`Delete the rule for ${r.match}?`, 'It applies at once: consumers whose user may no longer read their destination are closed.', 'Delete'))) return;
    try {
      await del(`/api/security/acl/${encodeURIComponent(r.id)}`);
      toast(`Deleted the rule for ${r.match}`);
    } catch (err) {
      toast((err as Error).message, 'error');
    }
    await load().catch(() => undefined);
  };
  const match = h('input', { id: 'acl-match', required: true, placeholder: 'orders.>', autocomplete: 'off' });
  const kind = h('select', { id: 'acl-kind' }, h('option', { value: '' }, 'queue + topic'), h('option', { value: 'queue' }, 'queue'), h('option', { value: 'topic' }, 'topic'));
  const read = h('input', { id: 'acl-read', placeholder: 'users or groups', autocomplete: 'off' });
  const write = h('input', { id: 'acl-write', placeholder: 'users or groups', autocomplete: 'off' });
  const admin = h('input', { id: 'acl-admin', placeholder: 'users or groups', autocomplete: 'off' });
  const form = host.admin
    ? h('form', {
      class: 'card inline-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          await post('/api/security/acl', { match: match.value.trim(), kind: kind.value || undefined, read: list(read.value), write: list(write.value), admin: list(admin.value) });
          toast(`Added a rule for ${match.value.trim()}`);
          for (const i of [match, read, write, admin]) i.value = '';
        } catch (err) {
          toast((err as Error).message, 'error');
        }
        await load().catch(() => undefined);
      },
    },
    h('h2', null, 'Add a rule'),
    h('label', { for: 'acl-match' }, 'Destination (* one segment, > the rest)'), match,
    h('label', { for: 'acl-kind' }, 'Kind'), kind,
    h('label', { for: 'acl-read' }, 'Read (consume, browse)'), read,
    h('label', { for: 'acl-write' }, 'Write (send)'), write,
    h('label', { for: 'acl-admin' }, 'Admin (create, delete, purge)'), admin,
    h('button', { type: 'submit', class: 'primary' }, 'Add rule'))
    : null;
  host.page('Access control', h('h1', null, 'Access control'), h('p', { class: 'muted' }, 'Who may read, write and administer which destinations. Names are users or groups; * is every authenticated user, anonymous the anonymous clients.'), box, form);
  await load();
}
