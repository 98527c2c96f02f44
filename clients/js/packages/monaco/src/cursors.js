// Other participants' cursors and selections in a Monaco editor: a caret
// and a selection highlight as decorations, and the name as a content
// widget at the caret (decorations carry class names only, no text).
import { PALETTE, participantColor, utf16Offset } from '@stet/client';

const ABOVE = 1, BELOW = 2; // monaco.editor.ContentWidgetPositionPreference

/** The CSS the cursors need; injected once per page unless `injectStyles: false`. */
export function cursorStyles(palette = PALETTE) {
  return [
    '.stet-remote-cursor { position: absolute; height: 100%; box-sizing: border-box; margin-left: -1px;',
    '  border-left: 2px solid var(--stet-color); pointer-events: none; }',
    '.stet-remote-selection { background-color: var(--stet-color); opacity: 0.25; }',
    '.stet-remote-label { background-color: var(--stet-color); color: #fff; font: 11px/16px system-ui, sans-serif;',
    '  padding: 0 4px; border-radius: 3px; white-space: nowrap; pointer-events: none; opacity: 0.9; }',
    ...palette.map((c, i) => `.stet-color-${i} { --stet-color: ${c}; }`),
  ].join('\n');
}

const injected = new Set();
function inject(palette) {
  const css = cursorStyles(palette);
  if (typeof document === 'undefined' || injected.has(css)) return;
  injected.add(css);
  const style = document.createElement('style');
  style.dataset.stet = 'monaco-cursors';
  style.textContent = css;
  document.head.append(style);
}

export class RemoteCursors {
  constructor(editor, { palette = PALETTE, injectStyles = true } = {}) {
    this.editor = editor;
    this.palette = palette;
    this.decorations = editor.createDecorationsCollection();
    this.labels = new Map(); // participant id -> content widget
    if (injectStyles) inject(palette);
  }

  /** Shows `participants` (cursors in code points of `text`, the model's text). */
  render(participants, text) {
    const model = this.editor.getModel();
    if (!model) return;
    const marks = [];
    const seen = new Set();
    for (const p of participants) {
      if (p.cursor === null) continue;
      const cls = `stet-color-${this.palette.indexOf(participantColor(p.id, this.palette))}`;
      const head = model.getPositionAt(utf16Offset(text, p.cursor));
      marks.push({
        range: { startLineNumber: head.lineNumber, startColumn: head.column, endLineNumber: head.lineNumber, endColumn: head.column },
        options: { beforeContentClassName: `stet-remote-cursor ${cls}`, hoverMessage: { value: p.name }, stickiness: 1 },
      });
      if (p.anchor !== null && p.anchor !== p.cursor) {
        const a = model.getPositionAt(utf16Offset(text, Math.min(p.anchor, p.cursor)));
        const b = model.getPositionAt(utf16Offset(text, Math.max(p.anchor, p.cursor)));
        marks.push({
          range: { startLineNumber: a.lineNumber, startColumn: a.column, endLineNumber: b.lineNumber, endColumn: b.column },
          options: { className: `stet-remote-selection ${cls}`, stickiness: 1 },
        });
      }
      seen.add(p.id);
      this._label(p, cls, head);
    }
    for (const [id, widget] of this.labels) {
      if (seen.has(id)) continue;
      this.editor.removeContentWidget(widget);
      this.labels.delete(id);
    }
    this.decorations.set(marks);
  }

  _label(p, cls, position) {
    let widget = this.labels.get(p.id);
    if (!widget) {
      const node = document.createElement('div');
      node.dataset.participant = p.id;
      widget = {
        node,
        position,
        getId: () => `stet.cursor.${p.id}`,
        getDomNode: () => node,
        getPosition: () => ({ position: widget.position, preference: [ABOVE, BELOW] }),
      };
      this.labels.set(p.id, widget);
      this.editor.addContentWidget(widget);
    }
    widget.node.className = `stet-remote-label ${cls}`;
    widget.node.textContent = p.name;
    widget.position = position;
    this.editor.layoutContentWidget(widget);
  }

  dispose() {
    for (const widget of this.labels.values()) this.editor.removeContentWidget(widget);
    this.labels.clear();
    this.decorations.clear();
  }
}
