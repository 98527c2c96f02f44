// The comment threads of a @stet/client document in CodeMirror: a
// StateField of mark decorations (class `cm-stet-comment`, the thread's id
// in `data-thread`), replaced from the document's ranges whenever they
// change and mapped through edits in between, so they stay where the
// server's anchor rule puts them.
import { StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin } from '@codemirror/view';
import { utf16Offsets } from '@stet/client';

/** Replaces the highlights: [{id, from, to, active?}], positions in UTF-16 units. */
export const setComments = StateEffect.define();

function build(ranges, length) {
  const marks = [];
  for (const r of ranges) {
    const from = Math.min(r.from, length), to = Math.min(r.to, length);
    if (from >= to) continue;
    marks.push(Decoration.mark({
      class: r.active ? 'cm-stet-comment cm-stet-comment-active' : 'cm-stet-comment',
      attributes: { 'data-thread': String(r.id) },
    }).range(from, to));
  }
  return Decoration.set(marks, true);
}

export const commentsField = StateField.define({
  create: () => Decoration.none,
  update(marks, tr) {
    for (const e of tr.effects) if (e.is(setComments)) return build(e.value, tr.state.doc.length);
    return tr.docChanged ? marks.map(tr.changes) : marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

export const commentTheme = EditorView.baseTheme({
  '.cm-stet-comment': { backgroundColor: 'rgba(255, 196, 0, 0.28)', borderBottom: '2px solid rgba(230, 160, 0, 0.9)' },
  '.cm-stet-comment-active': { backgroundColor: 'rgba(255, 170, 0, 0.5)' },
});

/** Which thread `setActive` marks in each view. */
const activeOf = new WeakMap();

class CommentSync {
  constructor(view, doc, filter) {
    this.view = view;
    this.doc = doc;
    this.filter = filter;
    this.queued = false;
    this.destroyed = false;
    this.onComments = () => this.queue();
    doc.on('comments', this.onComments);
    this.queue();
  }

  destroy() {
    this.destroyed = true;
    this.doc.off('comments', this.onComments);
  }

  // Outside CodeMirror's update cycle (a local edit emits from inside it),
  // once per burst.
  queue() {
    if (this.queued) return;
    this.queued = true;
    queueMicrotask(() => {
      this.queued = false;
      if (!this.destroyed) this.render();
    });
  }

  render() {
    const text = this.view.state.doc.toString();
    if (text !== this.doc.text) return; // the binding is catching up; it emits again
    const active = activeOf.get(this.view) ?? null;
    const shown = this.doc.comments.filter((t) => t.end > t.start && this.filter(t));
    const at = utf16Offsets(text, shown.flatMap((t) => [t.start, t.end]));
    const ranges = shown.map((t) => ({ id: t.id, from: at.get(t.start), to: at.get(t.end), active: t.id === active }));
    this.view.dispatch({ effects: setComments.of(ranges) });
  }
}

const plugins = new WeakMap(); // view -> CommentSync

/**
 * The extension highlighting `doc`'s comment threads (use it beside
 * stetCollab(doc)). `filter` picks the threads shown; default: open ones
 * whose text is still there.
 */
export function stetComments(doc, { filter = (t) => !t.resolved && !t.detached } = {}) {
  return [
    commentsField,
    commentTheme,
    ViewPlugin.define((view) => {
      const sync = new CommentSync(view, doc, filter);
      plugins.set(view, sync);
      return sync;
    }),
  ];
}

/** Marks thread `id` (null: none) with `cm-stet-comment-active` in `view`. */
export function setActiveComment(view, id) {
  activeOf.set(view, id);
  plugins.get(view)?.queue();
}
