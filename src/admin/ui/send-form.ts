/** The console's send form for a queue or topic: body, properties (name=value lines), priority, TTL, persistence. */
import { enc, post } from './api.js';
import { h, toast } from './dom.js';

export /** The send form for a queue or topic. */
function sendForm(dest: { kind: 'queue' | 'topic'; name: string }, after: () => void): HTMLElement {
  const body = h('textarea', { id: 'send-body', rows: 5, 'aria-label': 'Body', placeholder: 'Message body' });
  const props = h('textarea', { id: 'send-props', rows: 3, 'aria-label': 'Properties', placeholder: 'name=value, one per line' });
  const priority = h('input', { id: 'send-priority', type: 'number', min: 0, max: 9, value: 4, 'aria-label': 'Priority' });
  const ttl = h('input', { id: 'send-ttl', type: 'number', min: 0, placeholder: 'none', 'aria-label': 'Time to live (ms)' });
  const persistent = h('input', { id: 'send-persistent', type: 'checkbox', checked: true });
  const correlation = h('input', { id: 'send-correlation', 'aria-label': 'Correlation id' });
  const err = h('p', { class: 'error', role: 'alert' });
  return h('form', {
    class: 'send-form',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      err.textContent = '';
      const properties: Record<string, string | number | boolean> = {};
      for (const line of props.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
        const i = line.indexOf('=');
        if (i <= 0) {
          err.textContent = `Property “${line}”: expected name=value`;
          return;
        }
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        properties[k] = v === 'true' ? true : v === 'false' ? false : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      }
      const msg: Record<string, unknown> = { body: body.value, properties, priority: Number(priority.value || 4), durable: persistent.checked };
      if (ttl.value) msg.ttl = Number(ttl.value);
      if (correlation.value) msg.correlationId = correlation.value;
      try {
        const r = await post<{ messageId: string }>(`/api/${dest.kind === 'queue' ? 'queues' : 'topics'}/${enc(dest.name)}/messages`, msg);
        toast(`Sent ${r.messageId}`);
        body.value = '';
        after();
      } catch (e2) {
        err.textContent = (e2 as Error).message;
      }
    },
  },
    h('label', { for: 'send-body' }, 'Body'), body,
    h('label', { for: 'send-props' }, 'Properties'), props,
    h('div', { class: 'row' },
      h('label', null, 'Priority', priority),
      h('label', null, 'TTL (ms)', ttl),
      h('label', { class: 'check' }, persistent, ' Persistent'),
    ),
    h('label', null, 'Correlation id', correlation),
    err,
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
  );
}

