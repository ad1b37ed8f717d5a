// Builds one single-page app into `dist/`: every file under `src/assets/` is copied with a
// content hash in its name and the references in `src/index.html` are rewritten to match;
// `public/` is copied as is. No npm dependencies on purpose: plain Node is enough, and the
// build must run where no package registry is reachable.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';

export function buildSpa(appDir) {
  const src = join(appDir, 'src');
  const dist = join(appDir, 'dist');
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(join(dist, 'assets'), { recursive: true });

  let html = readFileSync(join(src, 'index.html'), 'utf8');
  for (const name of readdirSync(join(src, 'assets')).sort()) {
    const bytes = readFileSync(join(src, 'assets', name));
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 10);
    const ext = extname(name);
    const hashed = `${name.slice(0, -ext.length)}.${hash}${ext}`;
    writeFileSync(join(dist, 'assets', hashed), bytes);
    html = html.replaceAll(`assets/${name}`, `assets/${hashed}`);
  }
  // The commit comes from the deploy tool; it goes into the page, not the hashed assets,
  // so a new commit with unchanged sources re-uploads only index.html. Nothing of the
  // environment goes in: the same build runs in staging and, promoted, in production. The
  // page reads its environment from /config.json, which the tool writes per environment.
  html = html.replaceAll('%DEPLOY_VERSION%', process.env.DEPLOY_VERSION ?? 'dev');
  writeFileSync(join(dist, 'index.html'), html);

  for (const name of readdirSync(join(appDir, 'public'))) {
    copyFileSync(join(appDir, 'public', name), join(dist, name));
  }
  console.log(`built ${dist}`);
}
