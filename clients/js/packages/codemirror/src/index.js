// @stet/codemirror: an extension that keeps a CodeMirror 6 view and a
// @stet/client document equal, sends the selection as presence, and shows
// the other participants' cursors with their names.
import { Annotation, EditorState, Transaction } from '@codemirror/state';
import { ViewPlugin } from '@codemirror/view';
import { PALETTE, cpOffset, participantColor, utf16Offset } from '@stet/client';
import { changesFromOps, opFromChangeSet } from './convert.js';
import { cursorTheme, remoteCursorsField, setRemoteCursors } from './cursors.js';

export { changesFromOps, opFromChangeSet, remoteCursorsField, setRemoteCursors };

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
      if (!c.local) this.dispatchRemote(changesFromOps(this.view.state.doc.toString(), c.ops));
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

  dispatchRemote(changes) {
    // Others' edits are not the local user's to undo.
    this.view.dispatch({ changes, annotations: [remoteEdit.of(true), Transaction.addToHistory.of(false)] });
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
  return [
    EditorState.lineSeparator.of('\n'),
    remoteCursorsField,
    cursorTheme,
    ViewPlugin.define((view) => new Sync(view, doc, { palette, presenceDelay })),
  ];
}
