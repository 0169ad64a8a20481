/**
 * The console's static files, all from the installed package (no CDN): `src/admin/ui/static/` (HTML, CSS),
 * the browser modules compiled from `src/admin/ui/*.ts` into `dist/src/admin/ui/`, and uPlot from
 * node_modules. Files are read once and kept in memory.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { packageRoot } from '../package-info.js';


const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export class StaticFiles {
  private readonly cache = new Map<string, Asset | null>();
  private readonly dirs: Record<string, string>;

  constructor(root = packageRoot()) {
    let uplot: string;
    try {
      uplot = path.dirname(createRequire(import.meta.url).resolve('uplot'));
    } catch {
      uplot = path.join(root, 'node_modules', 'uplot', 'dist');
    }
    this.dirs = {
      static: path.join(root, 'src', 'admin', 'ui', 'static'),
      js: path.join(root, 'dist', 'src', 'admin', 'ui'),
      vendor: uplot,
    };
  }

  /** Where a console URL path lives on disk, or null (only known directories, no `..`). */
  private resolve(urlPath: string): string | null {
    if (urlPath === '/' || urlPath === '/console' || urlPath === '/console/') return path.join(this.dirs.static, 'index.html');
    const m = /^\/console\/(js|vendor|static)\/([A-Za-z0-9._-]+)$/.exec(urlPath) ?? /^\/console\/()([A-Za-z0-9._-]+\.(?:css|svg|png|ico))$/.exec(urlPath);
    if (!m) return null;
    const [, dir, file] = m;
    if (file.startsWith('.')) return null;
    if (dir === 'vendor') return file === 'uPlot.esm.js' || file === 'uPlot.min.css' ? path.join(this.dirs.vendor, file) : null;
    if (dir === 'js') return file.endsWith('.js') ? path.join(this.dirs.js, file) : null;
    return path.join(this.dirs.static, file);
  }

  private load(file: string): Asset | null {
    if (this.cache.has(file)) return this.cache.get(file)!;
    let asset: Asset | null = null;
    try {
      const body = readFileSync(file);
      asset = { body, type: TYPES[path.extname(file)] ?? 'application/octet-stream', etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
    } catch {
      asset = null;
    }
    // the console's own modules are not cached when missing (a build may still be writing them)
    if (asset) this.cache.set(file, asset);
    return asset;
  }

  /** Serve a console file; false when the path is not one. */
  serve(req: IncomingMessage, res: ServerResponse, urlPath: string): boolean {
    if (urlPath === '/favicon.ico') urlPath = '/console/favicon.svg';
    const file = this.resolve(urlPath);
    if (!file) return false;
    const a = this.load(file);
    if (!a) {
      const built = file.startsWith(this.dirs.js);
      const msg = built ? 'console scripts are not built: run `npm run build`' : 'not found';
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(msg + '\n');
      return true;
    }
    const headers: Record<string, string> = {
      'content-type': a.type,
      etag: a.etag,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (a.type.startsWith('text/html')) {
      headers['content-security-policy'] = CSP;
      headers['x-frame-options'] = 'DENY';
    }
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    headers['content-length'] = String(a.body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : a.body);
    return true;
  }
}
