/**
 * "Move to…" / "Copy to…": a destination field that suggests existing queues as you type, and asks before a
 * name that does not exist yet becomes a new queue (a typo used to create one silently).
 */
import { ApiError, enc, get, type Dest, type Page } from './api.js';
import { append, debounce, h, replace } from './dom.js';

let seq = 0;

/** Resolves the target (`name` or `topic://name`), or null when cancelled. */
export function pickDestination(title: string, action: string, text = ''): Promise<string | null> {
  return new Promise((resolve) => {
    const listId = `dest-suggestions-${++seq}`;
    const input = h('input', { type: 'text', 'aria-label': 'To (queue name, or topic://name)', required: true, list: listId, autocomplete: 'off' });
    const suggestions = h('datalist', { id: listId });
    const note = h('div', { class: 'pick-note', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'primary' }, action);
    const dlg = h('dialog', { class: 'dialog', 'aria-label': title });
    let confirmedNew = '';
    const done = (v: string | null) => {
      dlg.close();
      dlg.remove();
      resolve(v);
    };
    const suggest = debounce(async () => {
      const f = input.value.trim().replace(/^queue:\/\//, '');
      if (f.startsWith('topic://')) return replace(suggestions);
      try {
        const r = await get<Page<Dest>>(`/api/destinations?kind=queue&limit=20&sort=name&filter=${enc(f)}`);
        replace(suggestions, r.items.map((d) => h('option', { value: d.name })));
      } catch {
        // suggestions are a help only
      }
    }, 150);
    input.addEventListener('input', () => {
      confirmedNew = '';
      submit.textContent = action;
      replace(note);
      suggest();
    });
    const form = h('form', {
      method: 'dialog',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const to = input.value.trim();
        if (!to) return;
        if (to.startsWith('topic://') || confirmedNew === to) return done(to);
        const name = to.replace(/^queue:\/\//, '');
        try {
          await get(`/api/queues/${enc(name)}`);
          return done(to);
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 404) {
            replace(note, h('p', { class: 'error' }, (err as Error).message));
            return;
          }
        }
        // not there: say so, and make creating it a second, deliberate click
        confirmedNew = to;
        replace(note, h('p', { class: 'notice' }, `There is no queue “${name}”. ${action} will create it. Check the name, or confirm.`));
        submit.textContent = `Create “${name}” and ${action.toLowerCase()}`;
      },
    },
      h('h2', null, title),
      h('label', null, 'To (queue name, or topic://name)', input),
      suggestions,
      note,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => done(null) }, 'Cancel'), submit),
    );
    append(dlg, [form]);
    dlg.addEventListener('cancel', (e) => {
      e.preventDefault();
      done(null);
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    input.value = text;
    input.focus();
    suggest();
  });
}
