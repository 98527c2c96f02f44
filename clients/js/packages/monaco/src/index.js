// @stet/monaco: keeps a Monaco editor's model and a @stet/client document
// equal, sends the editor's cursor and selection as presence, and shows the
// other participants' cursors with their names. It needs no import of
// monaco-editor: everything goes through the editor passed in.
import { cpOffset, utf16Offset } from '@stet/client';
import { monacoEditsFromOps, opFromMonacoChanges } from './convert.js';
import { RemoteCursors, cursorStyles } from './cursors.js';
import { CommentHighlights, commentStyles } from './comments.js';

export { monacoEditsFromOps, opFromMonacoChanges, cursorStyles, CommentHighlights, commentStyles };

export class MonacoBinding {
  /**
   * Binds `editor` (its current model) to `doc` until `destroy()`. The
   * model's text is replaced by the document's. Options: `palette` (CSS
   * colours), `injectStyles` (true: add the cursor CSS to the page once),
   * `presenceDelay` (ms of quiet before the cursor is sent; 30).
   */
  constructor(doc, editor, { palette, injectStyles = true, presenceDelay = 30 } = {}) {
    this.doc = doc;
    this.editor = editor;
    this.model = editor.getModel();
    if (!this.model) throw new TypeError('MonacoBinding: the editor has no model');
    this._presenceDelay = presenceDelay;
    this._applying = false;
    this._presenceTimer = null;
    this._renderQueued = false;
    this._destroyed = false;
    this._diverged = false;
    this._cursors = new RemoteCursors(editor, { palette, injectStyles });
    this._before = this.model.getValue(); // the model's text, kept equal to doc.text
    if (this._before !== doc.text) this._reset();
    this._onChange = (c) => {
      if (c.origin === 'edit') return; // typed here: the model has it
      this._applyRemote(c.ops);
      if (c.origin !== 'remote') this._placeCursor(c.ops);
    };
    this._onPresence = () => this._queueRender();
    doc.on('change', this._onChange);
    doc.on('presence', this._onPresence);
    this._subscriptions = [
      this.model.onDidChangeContent((e) => this._onLocal(e)),
      editor.onDidChangeCursorSelection(() => this._queuePresence()),
      // Ctrl/Cmd+Z, Ctrl/Cmd+Shift+Z and Ctrl+Y undo and redo this user's
      // own edits (doc.undo()), not Monaco's stack, which would take back
      // text at positions others' edits have moved.
      editor.onKeyDown((e) => {
        // The letter on the key; on a non-Latin layout, the key's place.
        let key = e.browserEvent.key?.toLowerCase();
        if (!/^[a-z]$/.test(key ?? '')) key = { KeyZ: 'z', KeyY: 'y' }[e.browserEvent.code];
        if (!(e.ctrlKey || e.metaKey) || e.altKey || (key !== 'z' && key !== 'y')) return;
        e.preventDefault();
        e.stopPropagation();
        if (this.editor.getRawOptions?.().readOnly || this._diverged) return;
        if (key === 'z' && !e.shiftKey) this.doc.undo();
        else this.doc.redo();
      }),
    ];
    this._queueRender();
  }

  destroy() {
    this._destroyed = true;
    this.doc.off('change', this._onChange);
    this.doc.off('presence', this._onPresence);
    for (const s of this._subscriptions) s.dispose();
    clearTimeout(this._presenceTimer);
    this._cursors.dispose();
  }

  _onLocal(e) {
    if (this._applying) return;
    const op = opFromMonacoChanges(this._before, e.changes);
    this._before = this.model.getValue();
    try {
      this.doc.edit(op);
    } catch (err) {
      // The model and the document disagree (a bug, or line endings Monaco
      // rewrote): the document wins, and the error surfaces uncaught.
      this._reset();
      setTimeout(() => {
        throw err;
      });
    }
  }

  _applyRemote(ops) {
    const edits = monacoEditsFromOps(this._before, ops, (u) => this.model.getPositionAt(u));
    this._apply(() => this.model.applyEdits(edits)); // applyEdits: not on the local undo stack
  }

  // After an undo or redo: the cursor goes where the text changed.
  _placeCursor(ops) {
    let at = 0;
    let end = null;
    for (const c of ops) {
      if ('retain' in c) at += Number(c.retain);
      else if ('insert' in c) end = at += [...c.insert].length;
      else end = at;
    }
    if (end === null) return;
    const position = this.model.getPositionAt(utf16Offset(this._before, end));
    this.editor.setPosition(position);
    this.editor.revealPositionInCenterIfOutsideViewport(position);
  }

  _reset() {
    this._apply(() => this.model.setValue(this.doc.text));
  }

  _apply(fn) {
    this._applying = true;
    try {
      fn();
    } finally {
      this._applying = false;
    }
    this._before = this.model.getValue();
    if (this._before.length !== this.doc.text.length && !this._diverged) {
      // Monaco rewrote line ends (a \r in the document): edits made here
      // would land at the wrong places for everyone else.
      this._diverged = true;
      this.editor.updateOptions({ readOnly: true });
      console.warn(`@stet/monaco: document ${this.doc.id} has line ends Monaco cannot keep; the editor is read-only`);
    }
    this._queueRender();
  }

  _queuePresence() {
    if (this._applying) return; // others move our cursor with the edit themselves
    clearTimeout(this._presenceTimer);
    this._presenceTimer = setTimeout(() => {
      const sel = this.editor.getSelection();
      if (!sel || this.doc.closed) return;
      const at = (lineNumber, column) => cpOffset(this._before, this.model.getOffsetAt({ lineNumber, column }));
      this.doc.setPresence(at(sel.positionLineNumber, sel.positionColumn),
        at(sel.selectionStartLineNumber, sel.selectionStartColumn));
    }, this._presenceDelay);
  }

  // Decorations change outside Monaco's own event handlers, once per burst.
  _queueRender() {
    if (this._renderQueued) return;
    this._renderQueued = true;
    queueMicrotask(() => {
      this._renderQueued = false;
      if (this._destroyed || this.model.isDisposed()) return;
      this._cursors.render(this.doc.participants, this._before);
    });
  }
}
