// stet's web app with CodeMirror 6 (codemirror.html): the shared shell
// (shell.js) with a CodeMirror view bound to the document by
// @stet/codemirror; an old revision opens read-only beside it.
import { basicSetup } from 'codemirror';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { setActiveComment, stetCollab, stetComments } from '@stet/codemirror';
import { cpOffset, utf16Offset } from '@stet/client';
import { startApp } from './shell.js';

const fill = EditorView.theme({ '&': { height: '100%' } });

startApp({
  revisionCaption: ' (read only)',

  mount(element, { doc, readOnly, canComment }) {
    const cursorListeners = new Set();
    const editor = new EditorView({
      parent: element,
      state: EditorState.create({
        doc: doc.text,
        extensions: [basicSetup, fill, stetCollab(doc), stetComments(doc), EditorState.readOnly.of(readOnly),
          // Read-only, but focusable where one may comment: a selection by keyboard too.
          EditorView.editable.of(!readOnly || !!canComment),
          EditorView.updateListener.of((u) => {
            if (!u.selectionSet) return;
            const at = cpOffset(u.state.doc.toString(), u.state.selection.main.head);
            for (const fn of cursorListeners) fn(at);
          })],
      }),
    });
    const cp = (u) => cpOffset(editor.state.doc.toString(), u);
    return {
      editor,
      text: () => editor.state.doc.toString(),
      selection: () => ({ start: cp(editor.state.selection.main.from), end: cp(editor.state.selection.main.to) }),
      select(start, end) {
        const text = editor.state.doc.toString();
        editor.dispatch({ selection: { anchor: utf16Offset(text, start), head: utf16Offset(text, end) }, scrollIntoView: true });
        editor.focus();
      },
      setActiveComment: (id) => setActiveComment(editor, id),
      onCursor(fn) {
        cursorListeners.add(fn);
        return { dispose: () => cursorListeners.delete(fn) };
      },
      destroy: () => editor.destroy(),
    };
  },

  showRevision(element, oldText) {
    const editor = new EditorView({
      parent: element,
      state: EditorState.create({ doc: oldText, extensions: [basicSetup, fill, EditorState.readOnly.of(true)] }),
    });
    return () => editor.destroy();
  },
});
