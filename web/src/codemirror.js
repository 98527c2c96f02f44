// stet's web app with CodeMirror 6 (codemirror.html): the shared shell
// (shell.js) with a CodeMirror view bound to the document by
// @stet/codemirror; an old revision opens read-only beside it.
import { basicSetup } from 'codemirror';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { stetCollab } from '@stet/codemirror';
import { startApp } from './shell.js';

const fill = EditorView.theme({ '&': { height: '100%' } });

startApp({
  revisionCaption: ' (read only)',

  mount(element, { doc, readOnly }) {
    const editor = new EditorView({
      parent: element,
      state: EditorState.create({
        doc: doc.text,
        extensions: [basicSetup, fill, stetCollab(doc), EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)],
      }),
    });
    return { editor, text: () => editor.state.doc.toString(), destroy: () => editor.destroy() };
  },

  showRevision(element, oldText) {
    const editor = new EditorView({
      parent: element,
      state: EditorState.create({ doc: oldText, extensions: [basicSetup, fill, EditorState.readOnly.of(true)] }),
    });
    return () => editor.destroy();
  },
});
