// Builds the web client into web/dist with esbuild: the Monaco page
// (index.html, app.js, Monaco's editor worker, CSS and fonts) and the
// CodeMirror page (codemirror.html, codemirror.js). esbuild because it
// bundles Monaco's ESM build in about a second with no configuration beyond
// this file and no plugin ecosystem to keep in step (vite/webpack would add
// both).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const dist = new URL('./dist/', import.meta.url).pathname;
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true, minify: true, sourcemap: false, target: 'es2020', logLevel: 'warning',
  // @stet/* are links into clients/js: resolve their imports from here
  // (web/node_modules), so that the app and the bindings share one copy of
  // @codemirror/state and @stet/client, whatever clients/js has installed.
  preserveSymlinks: true,
};
await esbuild.build({
  ...common,
  entryPoints: { app: 'src/app.js', codemirror: 'src/codemirror.js' },
  outdir: dist,
  format: 'esm',
  loader: { '.ttf': 'file' },
  assetNames: '[name]',
});
await esbuild.build({
  ...common,
  entryPoints: { 'editor.worker': 'monaco-editor/esm/vs/editor/editor.worker.js' },
  outdir: dist,
  format: 'iife',
});
copyFileSync('src/index.html', dist + 'index.html');
copyFileSync('src/codemirror.html', dist + 'codemirror.html');
copyFileSync('src/app.css', dist + 'style.css');
console.log('built', dist);
