// The comment threads of the open document, beside its editor (shell.js):
// a form that comments on the editor's selection, then every thread in
// document order with the text it is on, its messages, a reply box,
// Resolve/Reopen and Delete. Threads whose text was deleted say so;
// resolved ones fold to one line. Plain DOM, updated in place (a reply
// being typed survives others' changes); every text from the server goes
// in as textContent.
import { utf16Offsets } from '@stet/client';

const QUOTE_MAX = 160; // characters of the commented text shown

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function when(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}

// `at`: UTF-16 offsets of the threads' positions in `text`.
function quoteOf(text, at, t) {
  if (t.detached) return 'its text was deleted';
  const q = text.slice(at.get(t.start), at.get(t.end));
  return q.length > QUOTE_MAX ? `${q.slice(0, QUOTE_MAX)}…` : q;
}

// A textarea and a button; `send(text)` resolves once the server has it.
function textForm(className, placeholder, label, send, toast) {
  const form = el('form', className);
  const input = el('textarea');
  input.name = 'text';
  input.placeholder = placeholder;
  input.maxLength = 16384;
  input.rows = 2;
  const button = el('button', '', label);
  button.type = 'submit';
  form.append(input, button);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    button.disabled = true;
    try {
      if ((await send(text)) !== false) input.value = '';
    } catch (err) {
      toast(`Not saved: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
  // Ctrl+Enter sends.
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  return form;
}

/**
 * Shows `doc`'s threads in `root` for `user` with document role `role`,
 * `view` being the page's editor (selection(), select(), setActiveComment(),
 * onCursor()). Returns {destroy()}.
 */
export function mountComments(root, { doc, view, role, user, toast }) {
  const canComment = role === 'owner' || role === 'editor' || role === 'commenter';
  const nodes = new Map(); // thread id -> {li, parts, thread}
  const list = el('ul', 'threads');
  list.id = 'comments';
  const empty = el('p', 'empty', 'No comments yet.');
  root.replaceChildren();
  if (canComment) {
    root.append(textForm('comment-new', 'Select text in the editor, write here, then Comment', 'Comment', (text) => {
      const { start, end } = view.selection();
      if (start === end) {
        toast('Select the text to comment on first');
        return false;
      }
      return doc.addComment(start, end, text);
    }, toast));
  }
  root.append(empty, list);

  let active = null;
  const setActive = (id) => {
    if (id === active) return;
    nodes.get(active)?.li.classList.remove('active');
    active = id;
    nodes.get(active)?.li.classList.add('active');
    view.setActiveComment(id);
  };

  const act = (promise) => promise.catch((err) => toast(`Not saved: ${err.message}`));

  function create(t) {
    const li = el('li', 'thread');
    li.dataset.thread = String(t.id);
    const quote = el('blockquote', 'quote');
    quote.title = 'Show in the editor';
    quote.addEventListener('click', () => {
      const now = nodes.get(t.id)?.thread;
      if (!now) return;
      if (now.resolved) li.classList.toggle('expanded');
      setActive(now.id);
      view.select(now.start, now.end);
    });
    const state = el('div', 'state');
    const entries = el('ol', 'entries');
    li.append(quote, state, entries);
    const parts = { quote, state, entries, toggle: null };
    if (canComment) {
      li.append(textForm('reply', 'Reply', 'Reply', (text) => doc.replyToComment(t.id, text), toast));
      const actions = el('div', 'actions');
      parts.toggle = el('button', 'resolve');
      parts.toggle.type = 'button';
      parts.toggle.addEventListener('click', () => {
        const now = nodes.get(t.id)?.thread;
        if (now) act(now.resolved ? doc.reopenComment(t.id) : doc.resolveComment(t.id));
      });
      actions.append(parts.toggle);
      if (role === 'owner' || t.entries[0]?.user === user) {
        const del = el('button', 'delete', 'Delete');
        del.type = 'button';
        del.addEventListener('click', () => {
          if (confirm('Delete this thread and its replies?')) act(doc.deleteComment(t.id));
        });
        actions.append(del);
      }
      li.append(actions);
    }
    return { li, parts, thread: null };
  }

  function update(node, t, text, at) {
    const { li, parts } = node;
    const q = quoteOf(text, at, t);
    if (parts.quote.textContent !== q) parts.quote.textContent = q;
    li.classList.toggle('detached', t.detached);
    li.classList.toggle('resolved', t.resolved);
    const state = [t.detached ? 'Detached' : '', t.resolved ? 'Resolved' : '', `${t.entries.length} message${t.entries.length === 1 ? '' : 's'}`]
      .filter(Boolean).join(' · ');
    if (parts.state.textContent !== state) parts.state.textContent = state;
    if (parts.toggle) parts.toggle.textContent = t.resolved ? 'Reopen' : 'Resolve';
    if (!node.thread || node.thread.entries !== t.entries) {
      parts.entries.replaceChildren(...t.entries.map((e) => {
        const item = el('li', 'entry');
        const head = el('div', 'head');
        head.append(el('span', 'author', e.user || 'anonymous'), el('time', '', when(e.time)));
        item.append(head, el('div', 'text', e.text));
        return item;
      }));
    }
    node.thread = t;
  }

  function render() {
    const threads = doc.comments;
    const text = doc.text;
    const at = utf16Offsets(text, threads.flatMap((t) => [t.start, t.end]));
    const seen = new Set();
    threads.forEach((t, i) => {
      let node = nodes.get(t.id);
      if (!node) nodes.set(t.id, (node = create(t)));
      update(node, t, text, at);
      seen.add(t.id);
      // Moved only when out of place: moving a node takes the focus from a reply being typed.
      if (list.children[i] !== node.li) list.insertBefore(node.li, list.children[i] || null);
    });
    for (const [id, node] of nodes) {
      if (seen.has(id)) continue;
      node.li.remove();
      nodes.delete(id);
      if (active === id) setActive(null);
    }
    empty.hidden = threads.length > 0;
  }

  // Every keystroke moves the ranges: one redraw per burst.
  let queued = null;
  const queue = () => {
    queued ??= setTimeout(() => {
      queued = null;
      render();
    }, 20);
  };
  doc.on('comments', queue);
  // The thread under the cursor is the active one.
  const cursor = view.onCursor((at) => {
    const now = nodes.get(active)?.thread;
    if (now && now.start <= at && at <= now.end) return;
    const t = doc.comments.find((x) => !x.resolved && !x.detached && x.start <= at && at <= x.end);
    setActive(t ? t.id : null);
  });
  render();
  return {
    destroy() {
      clearTimeout(queued);
      doc.off('comments', queue);
      cursor.dispose();
    },
  };
}
