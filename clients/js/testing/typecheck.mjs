// Compiles a package's TypeScript usage example with tsc --strict against
// its hand-written index.d.ts, so the declarations and the examples in the
// READMEs cannot drift from each other unnoticed.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** Resolves with tsc's output; rejects with it when compilation fails or takes over a minute. */
export function typecheck(file) {
  const args = [tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', file];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tsc ${file}:\n${stdout}${stderr}${err.killed ? '(killed after 60 s)' : ''}`));
      else resolve(stdout);
    });
  });
}
