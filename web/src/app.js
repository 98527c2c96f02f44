// stet's web app with the Monaco editor (index.html): the shared shell
// (shell.js) with Monaco bound to the document by @stet/monaco, syntax
// highlighting by the title's extension, and history as a diff.
import * as monaco from 'monaco-editor/esm/vs/editor/editor.api.js';
import 'monaco-editor/esm/vs/basic-languages/monaco.contribution.js';
import { CommentHighlights, MonacoBinding } from '@stet/monaco';
import { cpOffset, utf16Offset } from '@stet/client';
import { startApp } from './shell.js';

self.MonacoEnvironment = { getWorkerUrl: () => '/editor.worker.js' };

const LANGUAGES = { js: 'javascript', mjs: 'javascript', ts: 'typescript', py: 'python', md: 'markdown', cpp: 'cpp', cc: 'cpp', hpp: 'cpp', h: 'cpp', c: 'c', rs: 'rust', go: 'go', java: 'java', json: 'json', html: 'html', css: 'css', sql: 'sql', sh: 'shell', yaml: 'yaml', yml: 'yaml', rb: 'ruby', proto: 'protobuf' };
const languageOf = (title) => LANGUAGES[(title.split('.').pop() || '').toLowerCase()] || 'plaintext';

startApp({
  revisionCaption: ' (left) against now (right)',

  mount(element, { doc, title, readOnly }) {
    const model = monaco.editor.createModel(doc.text, languageOf(title));
    const editor = monaco.editor.create(element, { model, automaticLayout: true, readOnly, minimap: { enabled: false } });
    const binding = new MonacoBinding(doc, editor);
    const highlights = new CommentHighlights(doc, editor);
    const cp = (position) => cpOffset(doc.text, model.getOffsetAt(position));
    return {
      editor,
      text: () => model.getValue(),
      selection() {
        const s = editor.getSelection();
        return s ? { start: cp(s.getStartPosition()), end: cp(s.getEndPosition()) } : { start: 0, end: 0 };
      },
      select(start, end) {
        const a = model.getPositionAt(utf16Offset(doc.text, start)), b = model.getPositionAt(utf16Offset(doc.text, end));
        editor.setSelection({ startLineNumber: a.lineNumber, startColumn: a.column, endLineNumber: b.lineNumber, endColumn: b.column });
        editor.revealRangeInCenterIfOutsideViewport(editor.getSelection());
        editor.focus();
      },
      setActiveComment: (id) => highlights.setActive(id),
      onCursor: (fn) => editor.onDidChangeCursorPosition((e) => fn(cp(e.position))),
      destroy() {
        highlights.dispose();
        binding.destroy();
        editor.dispose();
        model.dispose();
      },
    };
  },

  showRevision(element, oldText, title, view) {
    const diff = monaco.editor.createDiffEditor(element, { readOnly: true, automaticLayout: true });
    const original = monaco.editor.createModel(oldText, languageOf(title));
    diff.setModel({ original, modified: view.editor.getModel() });
    // Monaco reports a diff computed after its editor went ("no diff result
    // available"): a modal closed at once lets the computation finish first.
    let computed = false;
    const watch = diff.onDidUpdateDiff(() => { computed = true; });
    return () => {
      let done = false;
      const dispose = () => {
        if (done) return;
        done = true;
        watch.dispose();
        diff.dispose();
        original.dispose();
      };
      if (computed) return dispose();
      diff.onDidUpdateDiff(dispose);
      setTimeout(dispose, 5000);
    };
  },
});
