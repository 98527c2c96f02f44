// A real stet node for the tests of the client packages and of web/: the
// binary from STET_BINARY (else build/stet), a fresh data folder, a free
// port, accounts through the REST API. Its log goes to <data>/stet.log.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../..', import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secret = 'client-test-secret-0123456789abcdef0123';
export const password = 'correct horse battery';

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().on('error', reject).listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** Polls `fn` every 50 ms until it is truthy; throws after `ms`. */
export async function waitUntil(fn, ms = 30000, what = 'a condition') {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export class StetServer {
  /** `args`: more `stet serve` flags; `webRoot`: folder served at / ('' for none). */
  constructor({ args = [], webRoot = '' } = {}) {
    this.binary = process.env.STET_BINARY || join(root, 'build/stet');
    this.args = args;
    this.webRoot = webRoot;
    this.dataDir = mkdtempSync(join(tmpdir(), 'stet-client-test-'));
    this.process = null;
    this._onExit = () => this.process?.kill('SIGKILL');
  }

  get base() {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Starts the node (on the same port and data after the first time) and waits for /healthz. */
  async start() {
    this.port ??= await freePort();
    const log = openSync(join(this.dataDir, 'stet.log'), 'a');
    const proc = spawn(this.binary, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.dataDir,
      '--web-root', this.webRoot, ...this.args], {
      env: { ...process.env, STET_AUTH_SECRET: secret }, stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.process = proc;
    process.on('exit', this._onExit);
    let exited = null;
    proc.on('exit', (code, signal) => { exited = { code, signal }; });
    for (let i = 0; i < 200; i++) {
      if (exited) throw new Error(`stet exited at start (${JSON.stringify(exited)}): ${this.log().slice(-2000)}`);
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) return this;
      } catch {}
      await sleep(50);
    }
    throw new Error(`stet did not answer /healthz within 10 s: ${this.log().slice(-2000)}`);
  }

  /** SIGKILL, as a crash: nothing is flushed or said goodbye. */
  async kill() {
    const proc = this.process;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await gone;
    process.off('exit', this._onExit);
  }

  async stop() {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  log() {
    try {
      return readFileSync(join(this.dataDir, 'stet.log'), 'utf8');
    } catch {
      return '';
    }
  }

  async rest(method, path, body, token) {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(this.base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: r.status === 204 ? null : await r.json() };
  }

  /** Registers `name` (once) and logs in: a token. Logins are rate limited (10 a minute per name). */
  async login(name) {
    await this.rest('POST', '/api/register', { username: name, password });
    const r = await this.rest('POST', '/api/login', { username: name, password });
    if (r.status !== 200) throw new Error(`login ${name}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.token;
  }

  async createDocument(token, fields) {
    const r = await this.rest('POST', '/api/documents', fields, token);
    if (r.status !== 201 && r.status !== 200) throw new Error(`create: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async text(docId, token) {
    const r = await this.rest('GET', `/api/documents/${encodeURIComponent(docId)}`, null, token);
    if (r.status !== 200) throw new Error(`get ${docId}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.text;
  }
}
