// The part of stet's web app every editor page shares: sign in, the
// document list, creating and sharing documents, participants, history and
// the connection: a @stet/client TabConnection, so that the tabs of this
// browser share one connection per document and typing the server has not
// acknowledged is kept in IndexedDB and sent when the page is opened again
// (a StetConnection per tab where Web Locks or IndexedDB are missing). Each page
// brings its editor: startApp(editor) with
//   mount(element, {doc, title, readOnly, canComment}) -> {text(), destroy(), editor,
//     selection(), select(start, end), setActiveComment(id), onCursor(fn)} (code points)
//   showRevision(element, oldText, title, currentText) -> dispose()
import { IndexedDbStorage, StetConnection, TabConnection, participantColor } from '@stet/client';
import { mountComments } from './comments-panel.js';

const $ = (sel) => document.querySelector(sel);
let session = JSON.parse(localStorage.getItem('stet.session') || 'null');
let conn = null;
let current = null; // {doc, view}
let editorKind = null;

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

export function toast(text, ms = 6000) {
  const el = document.createElement('div');
  el.className = 'toast';
  el.textContent = text;
  $('#toasts').append(el);
  setTimeout(() => el.remove(), ms);
}

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// -- session --

function logout() {
  localStorage.removeItem('stet.session');
  session = null;
  if (current) closeDocument();
  if (conn) conn.destroy();
  conn = null;
  location.hash = '#/';
  route();
}

const STATES = { connected: 'online', connecting: 'connecting', disconnected: 'offline' };

function ensureConnection() {
  if (conn) return conn;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const options = {
    url,
    // Asked before every hello; a revoked token is refused and signs us out.
    token: () => session?.token,
    // Names us to other participants and keys resends: with a
    // TabConnection, the first one this browser stores for the user is kept.
    clientId: `${session.user.username}-${Math.random().toString(36).slice(2, 6)}`,
  };
  conn = TabConnection.supported()
    ? new TabConnection({ ...options, user: session.user.username, storage: new IndexedDbStorage() })
    : new StetConnection(options);
  conn.on('status', ({ status, retryIn }) => {
    const el = $('#conn');
    el.dataset.state = STATES[status];
    el.textContent = retryIn !== undefined ? `offline, retrying in ${retryIn.toFixed(1)} s` : STATES[status];
  });
  conn.on('error', (e) => {
    if (e.code === 'unauthorized' && session) return logout(); // the token was revoked or expired
    toast(`${e.code}: ${e.message}`);
  });
  window.stetConnection = conn;
  return conn;
}

// -- views --

function renderLogin() {
  $('#view').innerHTML = `
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
  $('#view').innerHTML = `
    <div class="card">
      <h2>Your documents</h2>
      <ul class="doclist" id="docs"><li>Loading…</li></ul>
      <form id="create">
        <h3>New document</h3>
        <input name="title" placeholder="Title (the extension picks the language: notes.md, main.py…)" required>
        <select name="policy"><option value="lww">Last write wins (lww)</option><option value="merge">Merge</option></select>
        <label class="inline"><input type="checkbox" name="public"> Anyone may view</label>
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

async function renderDocument(id) {
  if (current) closeDocument();
  let info;
  try {
    info = await api('GET', `/api/documents/${encodeURIComponent(id)}`);
  } catch (err) {
    $('#view').innerHTML = `<div class="card"><h2>Cannot open this document</h2><p>${esc(err.message)}</p></div>`;
    return;
  }
  // Commenters may comment, not edit: their editor is read-only too.
  const canEdit = info.role === 'owner' || info.role === 'editor';
  $('#view').innerHTML = `
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
        <h3>Comments</h3><div id="comment-panel"></div>
        <h3>Share</h3>
        <form id="share"><input name="user" placeholder="username" required>
          <select name="role"><option>editor</option><option>commenter</option><option>viewer</option></select><button>Share</button></form>
        <h3>Versions <button id="version-save" title="Name the current revision"${canEdit ? '' : ' hidden'}>＋</button></h3><ul class="history" id="versions"></ul>
        <h3>History <button id="history-refresh" title="Reload the history">↻</button></h3><ul class="history" id="history"></ul>
      </aside>
    </div>`;
  const doc = ensureConnection().open(id);
  const view = editorKind.mount($('#editor'), { doc, title: info.title || '', readOnly: !canEdit, canComment: info.role === 'commenter' });
  const comments = mountComments($('#comment-panel'), { doc, view, role: info.role, user: session.user.username, toast });
  const showState = () => {
    $('#rev').textContent = `rev ${doc.server?.rev ?? doc.rev}`; // a TabDocument's rev is its tab hub's
    $('#pending').textContent = doc.hasUnsyncedChanges ? `${doc.unsyncedChanges} unsynced` : doc.synced ? 'saved' : 'joining';
  };
  doc.on('synced', showState);
  doc.on('change', showState);
  doc.on('unsyncedChanges', showState);
  doc.on('server', showState);
  doc.on('conflict', (c) => toast(`Your edit was overridden by a later one (rev ${c.rev}).` +
    (c.dropped ? `\nLost text: “${c.dropped}”` : '') + (c.restored ? `\nRestored: “${c.restored}”` : '')));
  doc.on('error', (e) => toast(`${e.code}: ${e.message}`));
  doc.on('presence', ({ participants }) => {
    $('#peers').innerHTML = participants.map((p) =>
      `<span class="peer" style="background:${participantColor(p.id)}">${esc(p.name)}</span>`).join('') || '<em>just you</em>';
  });
  $('#share').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api('POST', `/api/documents/${id}/share`, { user: f.get('user'), role: f.get('role') });
      toast(`Shared with ${f.get('user')} as ${f.get('role')}`);
    } catch (err) { toast(err.message); }
  });
  const history = () => loadHistory(id, info.title || '', view, canEdit);
  history();
  $('#history-refresh').onclick = history;
  $('#version-save').onclick = async () => {
    const name = prompt('Name this version', `rev ${doc.rev}`);
    if (!name) return;
    try {
      // No rev: the server's committed one, with what was typed here once saved.
      if (doc.hasUnsyncedChanges) return toast('Saving your typing first: try again in a moment');
      const v = await api('POST', `/api/documents/${id}/versions`, { name });
      toast(`Saved “${v.name}” (rev ${v.rev})`);
      history();
    } catch (err) { toast(err.message); }
  };
  showState();
  current = { doc, view, comments };
  window.stetDocument = doc;
  window.stetEditor = view.editor;
  window.stetView = view;
}

async function loadHistory(id, title, view, canEdit) {
  try {
    const [{ history }, { versions }] = await Promise.all([api('GET', `/api/documents/${id}/history`),
      api('GET', `/api/documents/${id}/versions`)]);
    $('#history').innerHTML = history.slice(-50).reverse().map((h) =>
      `<li data-rev="${h.rev}">rev ${h.rev} · ${esc(h.author || h.clientId)} · ${new Date(Number(BigInt(h.ts) >> 16n)).toLocaleTimeString()}</li>`).join('');
    $('#versions').innerHTML = versions.slice().reverse().map((v) =>
      `<li data-version="${v.id}">${esc(v.name)} · rev ${v.rev}${v.author ? ` · ${esc(v.author)}` : ''}</li>`).join('') || '<em>none named</em>';
    const restore = (what) => async () => {
      try {
        const r = await api('POST', `/api/documents/${id}/restore`, what);
        toast(`Restored as rev ${r.rev}`);
        loadHistory(id, title, view, canEdit);
      } catch (err) { toast(err.message); }
    };
    $('#history').onclick = async (e) => {
      const rev = e.target.closest('li')?.dataset.rev;
      if (!rev) return;
      try {
        const old = await api('GET', `/api/documents/${id}?rev=${rev}`);
        showOld(`rev ${old.rev}`, old.text, title, view, canEdit && restore({ rev: Number(rev) }));
      } catch (err) { toast(err.message); }
    };
    $('#versions').onclick = async (e) => {
      const vid = e.target.closest('li')?.dataset.version;
      if (!vid) return;
      try {
        const v = await api('GET', `/api/documents/${id}/versions/${vid}`);
        showOld(`${v.name} (rev ${v.rev})`, v.text, title, view, canEdit && restore({ version: Number(vid) }));
      } catch (err) { toast(err.message); }
    };
  } catch (err) { toast(err.message); }
}

// An older text beside the current one, with a Restore button for editors.
function showOld(caption, text, title, view, onRestore) {
  const modal = document.createElement('div');
  modal.className = 'modal';
  modal.innerHTML = `<div class="bar"><strong>${esc(caption)}</strong>${esc(editorKind.revisionCaption)}<span class="spacer"></span>` +
    `${onRestore ? '<button class="restore">Restore</button>' : ''}<button class="close">Close</button></div><div class="body"></div>`;
  document.body.append(modal);
  const dispose = editorKind.showRevision(modal.querySelector('.body'), text, title, view);
  const close = () => { dispose(); modal.remove(); };
  modal.querySelector('.close').onclick = close;
  if (onRestore) modal.querySelector('.restore').onclick = () => { close(); onRestore(); };
}

function closeDocument() {
  current.comments.destroy();
  current.view.destroy();
  current.doc.close();
  current = null;
}

function route() {
  $('#who').textContent = session ? session.user.username : '';
  $('#logout').hidden = !session;
  // The other editor's page, on the same document.
  const other = $('#other-editor');
  if (other) other.href = other.getAttribute('href').split('#')[0] + location.hash;
  if (!session) return renderLogin();
  ensureConnection();
  const m = location.hash.match(/^#\/doc\/(.+)$/);
  if (m) return renderDocument(decodeURIComponent(m[1]));
  if (current) closeDocument();
  return renderList();
}

/** Starts the app with `editor` (see the top of this file). */
export function startApp(editor) {
  editorKind = editor;
  $('#logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  window.addEventListener('beforeunload', (e) => {
    // Asks before edits not yet saved are lost: all unacknowledged ones
    // without tab sharing, those no tab hub has stored yet with it.
    const unsaved = conn instanceof StetConnection ? conn.hasUnsyncedChanges : conn?.hasUnstoredChanges;
    if (unsaved) e.preventDefault();
  });
  route();
}
