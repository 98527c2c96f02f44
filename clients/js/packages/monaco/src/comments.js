// The comment threads of a @stet/client document as Monaco decorations:
// each shown thread's range gets the classes `stet-comment` and
// `stet-comment-<id>` (decorations carry class names only), redrawn from
// the document's ranges whenever they change, so they stay where the
// server's anchor rule puts them rather than where Monaco's would.
import { utf16Offsets } from '@stet/client';

const NEVER_GROWS = 1; // monaco.editor.TrackedRangeStickiness.NeverGrowsWhenTypingAtEdges

/** The CSS the highlights need; injected once per page unless `injectStyles: false`. */
export function commentStyles() {
  return [
    '.stet-comment { background-color: rgba(255, 196, 0, 0.28); border-bottom: 2px solid rgba(230, 160, 0, 0.9); }',
    '.stet-comment.stet-comment-active { background-color: rgba(255, 170, 0, 0.5); }',
  ].join('\n');
}

let injected = false;
function inject() {
  if (injected || typeof document === 'undefined') return;
  injected = true;
  const style = document.createElement('style');
  style.dataset.stet = 'monaco-comments';
  style.textContent = commentStyles();
  document.head.append(style);
}

export class CommentHighlights {
  /**
   * Highlights `doc`'s threads in `editor` (bound to `doc` by a
   * MonacoBinding) until `dispose()`. Options: `filter` (which threads to
   * show; default: open ones whose text is still there), `injectStyles`.
   */
  constructor(doc, editor, { filter = (t) => !t.resolved && !t.detached, injectStyles = true } = {}) {
    this.doc = doc;
    this.editor = editor;
    this.filter = filter;
    this.active = null;
    this._decorations = editor.createDecorationsCollection();
    this._queued = false;
    this._disposed = false;
    this._onComments = () => this._queue();
    doc.on('comments', this._onComments);
    if (injectStyles) inject();
    this._queue();
  }

  /** Marks thread `id` (or none: null) with `stet-comment-active`. */
  setActive(id) {
    this.active = id;
    this._queue();
  }

  dispose() {
    this._disposed = true;
    this.doc.off('comments', this._onComments);
    this._decorations.clear();
  }

  // After the document's change is in the model (the binding applies it
  // first), once per burst.
  _queue() {
    if (this._queued) return;
    this._queued = true;
    queueMicrotask(() => {
      this._queued = false;
      if (!this._disposed) this.render();
    });
  }

  /** Redraws the highlights from `doc.comments`. */
  render() {
    const model = this.editor.getModel();
    const text = this.doc.text;
    if (!model || model.getValueLength() !== text.length) return; // the binding is resetting the model
    const shown = this.doc.comments.filter((t) => t.end > t.start && this.filter(t));
    const at = utf16Offsets(text, shown.flatMap((t) => [t.start, t.end]));
    this._decorations.set(shown.map((t) => {
      const a = model.getPositionAt(at.get(t.start)), b = model.getPositionAt(at.get(t.end));
      return {
        range: { startLineNumber: a.lineNumber, startColumn: a.column, endLineNumber: b.lineNumber, endColumn: b.column },
        options: {
          className: `stet-comment stet-comment-${t.id}${t.id === this.active ? ' stet-comment-active' : ''}`,
          stickiness: NEVER_GROWS,
        },
      };
    }));
  }
}
