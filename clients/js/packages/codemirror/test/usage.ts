// The README's example, checked by tsc against index.d.ts (types.test.mjs).
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { StetConnection } from '@stet/client';
import { stetCollab, stetComments, commentsField, setComments, setActiveComment, remoteCursorsField, setRemoteCursors, opFromChangeSet, changesFromOps } from '@stet/codemirror';

const connection = new StetConnection({ url: 'wss://stet.example.com/ws', token: 'token' });
const doc = connection.open('notes');
doc.once('synced', () => {
  const view = new EditorView({
    state: EditorState.create({ doc: doc.text, extensions: [stetCollab(doc, { palette: ['#123456'] }), stetComments(doc, { filter: (t) => !t.resolved })] }),
    parent: document.body,
  });
  view.dispatch({ effects: setRemoteCursors.of([{ id: 'a', name: 'a', color: 'red', head: 0, anchor: 0 }]) });
  console.log(view.state.field(remoteCursorsField).size);
  view.dispatch({ effects: setComments.of([{ id: 4, from: 0, to: 1 }]) });
  setActiveComment(view, 4);
  console.log(view.state.field(commentsField).size);
  const tr = view.state.update({ changes: { from: 0, insert: 'x' } });
  const op = opFromChangeSet(tr.changes, view.state.doc);
  view.dispatch({ changes: changesFromOps(view.state.doc.toString(), op.toWire()) });
});
