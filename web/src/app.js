// stet's web app with the Monaco editor (index.html): the shared shell
// (shell.js) with Monaco bound to the document by @stet/monaco, syntax
// highlighting by the title's extension, and history as a diff.
import * as monaco from 'monaco-editor/esm/vs/editor/editor.api.js';
import 'monaco-editor/esm/vs/basic-languages/monaco.contribution.js';
import { MonacoBinding } from '@stet/monaco';
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
    return {
      editor,
      text: () => model.getValue(),
      destroy() {
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
