// index.d.ts against a usage example, under tsc --strict.
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { typecheck } from '../../../testing/typecheck.mjs';

test('the declarations compile with the usage example', { timeout: 90000 }, async () => {
  await typecheck(fileURLToPath(new URL('./usage.ts', import.meta.url)));
});
