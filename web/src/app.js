// stet's web client: sign in, list/create/share documents, and edit them in
// Monaco with live cursors, offline-safe reconnect, conflict notices and
// history. Talks to the server through the REST API and client.js.
import * as monaco from 'monaco-editor/esm/vs/editor/editor.api.js';
import 'monaco-editor/esm/vs/basic-languages/monaco.contribution.js';
import { Connection, DocumentSession, opFromMonacoChanges } from './client.js';
import { Op } from './ot.js';
import { cpLength, cpOffset, utf16Offset } from './unicode.js';

self.MonacoEnvironment = { getWorkerUrl: () => '/editor.worker.js' };

const $ = (sel) => document.querySelector(sel);
const view = $('#view');
let session = JSON.parse(localStorage.getItem('stet.session') || 'null');
let conn = null;
let current = null; // {doc, editor, model}

// -- REST --

async function api(method, path, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (session) headers.Authorization = `Bearer ${session.token}`;
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = r.status === 204 ? null : await r.json();
  if (r.status === 401 && session) logout();
  if (!r.ok) throw new Error(data?.error?.message || r.statusText);
  return data;
}

function toast(text, ms = 6000) {
  const el = document.createElement('div');
  el.className = 'toast';
  el.textContent = text;
  $('#toasts').append(el);
  setTimeout(() => el.remove(), ms);
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// -- session --

function logout() {
  localStorage.removeItem('stet.session');
  session = null;
  if (conn) conn.close();
  conn = null;
  location.hash = '#/';
  route();
}

function ensureConnection() {
  if (conn) return conn;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  // The client id names us to other participants and keys resends.
  const clientId = `${session.user.username}-${Math.random().toString(36).slice(2, 6)}`;
  conn = new Connection(url, {
    token: session.token,
    clientId,
    onState: ({ state, retryIn, error }) => {
      const el = $('#conn');
      el.dataset.state = state;
      el.textContent = state === 'offline' ? `offline, retrying in ${retryIn.toFixed(1)} s` : state;
      if (error) toast(`${error.code}: ${error.message}`);
    },
  });
  window.stetConnection = conn;
  return conn;
}

// -- views --

function renderLogin() {
  view.innerHTML = `
    <form class="card" id="login">
      <h2>Sign in to stet</h2>
      <label>Username <input name="username" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required minlength="8"></label>
      <button type="submit" name="action" value="login">Sign in</button>
      <button type="submit" name="action" value="register">Register</button>
      <p id="login-error" class="error"></p>
    </form>`;
  $('#login').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const creds = { username: form.get('username'), password: form.get('password') };
    try {
      if (e.submitter?.value === 'register') await api('POST', '/api/register', creds);
      const r = await api('POST', '/api/login', creds);
      session = { token: r.token, user: r.user };
      localStorage.setItem('stet.session', JSON.stringify(session));
      route();
    } catch (err) {
      $('#login-error').textContent = err.message;
    }
  });
}

async function renderList() {
  view.innerHTML = `
    <div class="card">
      <h2>Your documents</h2>
      <ul class="doclist" id="docs"><li>Loading…</li></ul>
      <form id="create">
        <h3>New document</h3>
        <input name="title" placeholder="Title (the extension picks the language: notes.md, main.py…)" required>
        <select name="policy"><option value="lww">Last write wins (lww)</option><option value="merge">Merge</option></select>
        <label><input type="checkbox" name="public" style="display:inline;width:auto"> Anyone may view</label>
        <button type="submit">Create</button>
      </form>
    </div>`;
  $('#create').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const doc = await api('POST', '/api/documents', { title: f.get('title'), policy: f.get('policy'), public: !!f.get('public') });
    location.hash = `#/doc/${doc.id}`;
  });
  const { documents } = await api('GET', '/api/documents');
  $('#docs').innerHTML = documents.length
    ? documents.map((d) => `<li><a href="#/doc/${esc(d.id)}">${esc(d.title || d.id)}</a> · ${esc(d.role)} · rev ${d.rev}</li>`).join('')
    : '<li>No documents yet.</li>';
}

const LANGUAGES = { js: 'javascript', mjs: 'javascript', ts: 'typescript', py: 'python', md: 'markdown', cpp: 'cpp', cc: 'cpp', hpp: 'cpp', h: 'cpp', c: 'c', rs: 'rust', go: 'go', java: 'java', json: 'json', html: 'html', css: 'css', sql: 'sql', sh: 'shell', yaml: 'yaml', yml: 'yaml', rb: 'ruby', proto: 'protobuf' };
const languageOf = (title) => LANGUAGES[(title.split('.').pop() || '').toLowerCase()] || 'plaintext';
const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46a0a8', '#c5a900', '#9a6324'];
const colorOf = (id) => COLORS[[...id].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % COLORS.length];

async function renderDocument(id) {
  if (current) closeDocument();
  let info;
  try {
    info = await api('GET', `/api/documents/${encodeURIComponent(id)}`);
  } catch (err) {
    view.innerHTML = `<div class="card"><h2>Cannot open this document</h2><p>${esc(err.message)}</p></div>`;
    return;
  }
  view.innerHTML = `
    <div class="editor-page">
      <div class="editor-main">
        <div class="editor-bar">
          <strong>${esc(info.title || id)}</strong> <span id="role">${esc(info.role)}</span> · <span id="rev">rev ${info.rev}</span>
          <span class="spacer"></span><span id="pending"></span>
        </div>
        <div id="editor"></div>
      </div>
      <aside>
        <h3>Participants</h3><div id="peers"></div>
        <h3>Share</h3>
        <form id="share"><input name="user" placeholder="username" required>
          <select name="role"><option>editor</option><option>viewer</option></select><button>Share</button></form>
        <h3>History <button id="history-refresh" title="Reload the history">↻</button></h3><ul class="history" id="history"></ul>
      </aside>
    </div>`;
  const model = monaco.editor.createModel('', languageOf(info.title || ''));
  const readOnly = info.role === 'viewer';
  const editor = monaco.editor.create($('#editor'), { model, automaticLayout: true, readOnly, minimap: { enabled: false } });
  let applyingRemote = false;
  let before = '';
  let decorations = [];
  const view_ = {
    getText: () => model.getValue(),
    setText(text) {
      applyingRemote = true;
      model.setValue(text);
      before = text;
      applyingRemote = false;
    },
    applyRemote(op) {
      // Every edit is computed on the text before it, as Monaco applies them.
      const text = model.getValue();
      const edits = [];
      let cp = 0, u = 0;
      for (const c of op.cs) {
        if (c.k === 'r') {
          const n = utf16Offset(text.slice(u), c.n);
          u += n; cp += c.n;
        } else if (c.k === 'i') {
          const p = model.getPositionAt(u);
          edits.push({ range: new monaco.Range(p.lineNumber, p.column, p.lineNumber, p.column), text: c.t, forceMoveMarkers: false });
        } else {
          const n = utf16Offset(text.slice(u), c.n);
          const a = model.getPositionAt(u), b = model.getPositionAt(u + n);
          edits.push({ range: new monaco.Range(a.lineNumber, a.column, b.lineNumber, b.column), text: '' });
          u += n; cp += c.n;
        }
      }
      applyingRemote = true;
      model.applyEdits(edits);
      before = model.getValue();
      applyingRemote = false;
    },
  };
  const doc = new DocumentSession(ensureConnection(), id, view_, {
    onSynced: (d) => {
      $('#rev').textContent = `rev ${d.rev}`;
      $('#pending').textContent = d.pending() ? `${d.pending()} unsynced` : 'saved';
    },
    onConflict: (c) => toast(`Your edit was overridden by a later one (rev ${c.rev}).` +
      (c.dropped ? `\nLost text: “${c.dropped}”` : '') + (c.restored ? `\nRestored: “${c.restored}”` : '')),
    onError: (e) => toast(`${e.code}: ${e.message}`),
    onPeers: (peers) => {
      $('#peers').innerHTML = [...peers.keys()].map((p) => `<span class="peer" style="background:${colorOf(p)}">${esc(p)}</span>`).join('') || '<em>just you</em>';
      const text = model.getValue();
      const marks = [];
      for (const [pid, p] of peers) {
        if (p.cursor === null) continue;
        const at = model.getPositionAt(utf16Offset(text, p.cursor));
        const cls = `peer-${pid.replace(/[^a-zA-Z0-9]/g, '')}`;
        ensurePeerStyle(cls, colorOf(pid));
        marks.push({ range: new monaco.Range(at.lineNumber, at.column, at.lineNumber, at.column),
          options: { className: `remote-cursor ${cls}`, hoverMessage: { value: pid }, stickiness: 1 } });
        if (p.anchor !== null && p.anchor !== p.cursor) {
          const a = model.getPositionAt(utf16Offset(text, Math.min(p.anchor, p.cursor)));
          const b = model.getPositionAt(utf16Offset(text, Math.max(p.anchor, p.cursor)));
          marks.push({ range: new monaco.Range(a.lineNumber, a.column, b.lineNumber, b.column), options: { className: `remote-selection ${cls}-sel` } });
        }
      }
      decorations = editor.deltaDecorations(decorations, marks);
    },
  });
  model.onDidChangeContent((e) => {
    if (applyingRemote) return;
    const op = opFromMonacoChanges(before, e.changes);
    before = model.getValue();
    doc.localEdit(op);
    $('#pending').textContent = doc.pending() ? `${doc.pending()} unsynced` : 'saved';
  });
  let presenceTimer = null;
  editor.onDidChangeCursorSelection((e) => {
    clearTimeout(presenceTimer);
    presenceTimer = setTimeout(() => {
      const text = model.getValue();
      const cursor = cpOffset(text, model.getOffsetAt(e.selection.getPosition()));
      const anchor = cpOffset(text, model.getOffsetAt(e.selection.getSelectionStart().equals(e.selection.getPosition())
        ? e.selection.getEndPosition() : e.selection.getStartPosition()));
      doc.sendPresence(cursor, anchor);
    }, 50);
  });
  $('#share').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api('POST', `/api/documents/${id}/share`, { user: f.get('user'), role: f.get('role') });
      toast(`Shared with ${f.get('user')} as ${f.get('role')}`);
    } catch (err) { toast(err.message); }
  });
  loadHistory(id, model);
  $('#history-refresh').onclick = () => loadHistory(id, model);
  current = { doc, editor, model };
  window.stetEditor = editor;
  window.stetDocument = doc;
}

const peerStyles = new Set();
function ensurePeerStyle(cls, color) {
  if (peerStyles.has(cls)) return;
  peerStyles.add(cls);
  const s = document.createElement('style');
  s.textContent = `.${cls} { border-color: ${color} !important; } .${cls}-sel { background: ${color}; }`;
  document.head.append(s);
}

async function loadHistory(id, model) {
  try {
    const { history } = await api('GET', `/api/documents/${id}/history`);
    $('#history').innerHTML = history.slice(-50).reverse().map((h) =>
      `<li data-rev="${h.rev}">rev ${h.rev} · ${esc(h.author || h.clientId)} · ${new Date(Number(BigInt(h.ts) >> 16n)).toLocaleTimeString()}</li>`).join('');
    $('#history').onclick = async (e) => {
      const rev = e.target.closest('li')?.dataset.rev;
      if (!rev) return;
      const old = await api('GET', `/api/documents/${id}?rev=${rev}`);
      showDiff(old, model);
    };
  } catch (err) { toast(err.message); }
}

function showDiff(old, model) {
  const modal = document.createElement('div');
  modal.className = 'modal';
  modal.innerHTML = `<div class="bar"><strong>rev ${old.rev}</strong> (left) against now (right)<span class="spacer"></span><button>Close</button></div><div class="body"></div>`;
  document.body.append(modal);
  const diff = monaco.editor.createDiffEditor(modal.querySelector('.body'), { readOnly: true, automaticLayout: true });
  diff.setModel({ original: monaco.editor.createModel(old.text, model.getLanguageId()), modified: model });
  modal.querySelector('button').onclick = () => { diff.dispose(); modal.remove(); };
}

function closeDocument() {
  current.doc.leave();
  current.editor.dispose();
  current.model.dispose();
  current = null;
}

function route() {
  $('#who').textContent = session ? session.user.username : '';
  $('#logout').hidden = !session;
  if (!session) return renderLogin();
  ensureConnection();
  const m = location.hash.match(/^#\/doc\/(.+)$/);
  if (m) return renderDocument(decodeURIComponent(m[1]));
  if (current) closeDocument();
  return renderList();
}

$('#logout').addEventListener('click', logout);
window.addEventListener('hashchange', route);
route();
