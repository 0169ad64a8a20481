#!/usr/bin/env node
import('../dist/src/app/cli.js').catch((err) => {
  console.error(err && err.code === 'ERR_MODULE_NOT_FOUND' ? 'wharf is not built: run `npm run build` first' : err);
  process.exit(1);
});
