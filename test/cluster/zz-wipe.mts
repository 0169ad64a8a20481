import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WharfCluster } from './wharf-cluster.js';
import { Stompit } from '../protocols/stomp/helpers.js';
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wharf-wipe-'));
console.log(root);
const c = await WharfCluster.create(root);
await c.startAll();
const lead = await c.leader();
const p = await Stompit.connect({ port: c.node(lead).ports.stomp });
for (let i = 0; i < 30; i++) await p.send('/queue/rebuilt', `r${i}`, { persistent: 'true' });
await p.disconnect();
const f = c.nodes.find((n) => n.id !== lead)!;
await c.kill(f.id);
fs.rmSync(path.join(f.dir, 'data'), { recursive: true, force: true });
await c.start(f.id);
for (let i = 0; i < 30; i++) {
  console.log(JSON.stringify(await c.status(lead)), JSON.stringify(await c.status(f.id)));
  await new Promise((r) => setTimeout(r, 1000));
  if (i > 5) break;
}
await c.close();
