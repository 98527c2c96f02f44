// @stet/codemirror: an extension that keeps a CodeMirror 6 view and a
// @stet/client document equal, sends the selection as presence, and shows
// the other participants' cursors with their names.
import { Annotation, EditorSelection, EditorState, Prec, Transaction } from '@codemirror/state';
import { ViewPlugin, keymap } from '@codemirror/view';
import { PALETTE, cpOffset, participantColor, utf16Offset } from '@stet/client';
import { changesFromOps, opFromChangeSet } from './convert.js';
import { cursorTheme, remoteCursorsField, setRemoteCursors } from './cursors.js';

export { changesFromOps, opFromChangeSet, remoteCursorsField, setRemoteCursors };
export { commentsField, setActiveComment, setComments, stetComments } from './comments.js';

/** Marks transactions that carry others' edits (they are not sent back). */
export const remoteEdit = Annotation.define();

class Sync {
  constructor(view, doc, { palette, presenceDelay }) {
    this.view = view;
    this.doc = doc;
    this.palette = palette;
    this.presenceDelay = presenceDelay;
    this.presenceTimer = null;
    this.renderQueued = false;
    this.destroyed = false;
    this.onChange = (c) => {
      if (c.origin === 'edit') return; // typed here: the view has it
      const changes = changesFromOps(this.view.state.doc.toString(), c.ops);
      if (c.origin === 'remote') return this.dispatchRemote(changes);
      // An undo or redo: the cursor goes where the text changed.
      const set = this.view.state.changes(changes);
      let head = null;
      set.iterChanges((fromA, toA, fromB, toB) => { head = toB; });
      this.dispatchRemote(changes, head === null ? undefined : EditorSelection.cursor(head));
    };
    this.onPresence = () => this.queueRender();
    doc.on('change', this.onChange);
    doc.on('presence', this.onPresence);
    // A view cannot be updated while it is being built: after it.
    queueMicrotask(() => {
      if (!this.destroyed && view.state.doc.toString() !== doc.text) this.reset();
    });
    this.queueRender();
  }

  update(update) {
    let local = false;
    for (const tr of update.transactions) {
      if (tr.annotation(remoteEdit)) continue;
      local = true;
      if (!tr.docChanged) continue;
      try {
        this.doc.edit(opFromChangeSet(tr.changes, tr.startState.doc));
      } catch (err) {
        // The view and the document disagree (a bug): the document wins.
        // Reported outside the update, which would disable the plugin.
        queueMicrotask(() => this.reset());
        setTimeout(() => {
          throw err;
        });
      }
    }
    if (local && (update.selectionSet || update.docChanged)) this.queuePresence();
  }

  destroy() {
    this.destroyed = true;
    this.doc.off('change', this.onChange);
    this.doc.off('presence', this.onPresence);
    clearTimeout(this.presenceTimer);
  }

  dispatchRemote(changes, selection) {
    // Nothing reaches CodeMirror's own history: undo is the document's.
    this.view.dispatch({ changes, selection, scrollIntoView: selection !== undefined,
      annotations: [remoteEdit.of(true), Transaction.addToHistory.of(false)] });
  }

  reset() {
    if (this.destroyed) return;
    this.dispatchRemote({ from: 0, to: this.view.state.doc.length, insert: this.doc.text });
  }

  queuePresence() {
    clearTimeout(this.presenceTimer);
    this.presenceTimer = setTimeout(() => {
      if (this.destroyed || this.doc.closed) return;
      const { head, anchor } = this.view.state.selection.main;
      const text = this.view.state.doc.toString();
      this.doc.setPresence(cpOffset(text, head), cpOffset(text, anchor));
    }, this.presenceDelay);
  }

  // Presence changes come from the document, outside CodeMirror's update
  // cycle; one dispatch per burst.
  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      if (this.destroyed) return;
      const text = this.view.state.doc.toString();
      const cursors = this.doc.participants.filter((p) => p.cursor !== null).map((p) => ({
        id: p.id,
        name: p.name,
        color: participantColor(p.id, this.palette),
        head: utf16Offset(text, p.cursor),
        anchor: utf16Offset(text, p.anchor ?? p.cursor),
      }));
      this.view.dispatch({ effects: setRemoteCursors.of(cursors), annotations: remoteEdit.of(true) });
    });
  }
}

/**
 * The extension binding a view to `doc` (a @stet/client StetDocument).
 * Create the view's state with `doc: stetDocument.text`; a view that
 * differs is overwritten with the document's text. Options: `palette`
 * (CSS colours), `presenceDelay` (ms of quiet before the cursor is sent;
 * 30). Line separators other than \n stay characters of the text, as in
 * every other participant's copy.
 */
export function stetCollab(doc, { palette = PALETTE, presenceDelay = 30 } = {}) {
  // Mod-z and redo undo this user's own edits (doc.undo()), ahead of any
  // history() in the page's setup, which would know only this view's.
  const own = (step) => (view) => {
    if (!view.state.readOnly) step();
    return true;
  };
  return [
    Prec.highest(keymap.of([
      { key: 'Mod-z', run: own(() => doc.undo()), preventDefault: true },
      { key: 'Mod-y', run: own(() => doc.redo()), preventDefault: true },
      { key: 'Mod-Shift-z', run: own(() => doc.redo()), preventDefault: true },
    ])),
    EditorState.lineSeparator.of('\n'),
    remoteCursorsField,
    cursorTheme,
    ViewPlugin.define((view) => new Sync(view, doc, { palette, presenceDelay })),
  ];
}
