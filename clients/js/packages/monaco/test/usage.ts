// The README's example, checked by tsc against index.d.ts (types.test.mjs).
import * as monaco from 'monaco-editor';
import { StetConnection } from '@stet/client';
import { CommentHighlights, MonacoBinding, commentStyles, cursorStyles, opFromMonacoChanges } from '@stet/monaco';

const connection = new StetConnection({ url: 'wss://stet.example.com/ws', token: () => localStorage.getItem('token') });
const doc = connection.open('notes');
const editor = monaco.editor.create(document.getElementById('editor')!, { value: '' });
const binding = new MonacoBinding(doc, editor, { presenceDelay: 50, injectStyles: false });
const css: string = cursorStyles(['#000000']);
editor.getModel()!.onDidChangeContent((e) => opFromMonacoChanges(binding.model.getValue(), e.changes).isNoop());
console.log(css, binding.doc === doc);
const highlights = new CommentHighlights(doc, editor, { filter: (t) => !t.detached, injectStyles: false });
highlights.setActive(doc.comments[0]?.id ?? null);
console.log(commentStyles(), highlights.active);
highlights.dispose();
binding.destroy();
