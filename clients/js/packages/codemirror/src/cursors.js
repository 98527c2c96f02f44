// Other participants' cursors and selections in CodeMirror: a StateField of
// decorations (a caret widget carrying the name, and a selection mark),
// replaced when presence changes and mapped through edits in between.
import { StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, WidgetType } from '@codemirror/view';

class CaretWidget extends WidgetType {
  constructor(id, name, color) {
    super();
    this.id = id;
    this.name = name;
    this.color = color;
  }

  eq(other) {
    return other.id === this.id && other.name === this.name && other.color === this.color;
  }

  toDOM() {
    const caret = document.createElement('span');
    caret.className = 'cm-stet-caret';
    caret.dataset.participant = this.id;
    caret.style.setProperty('--stet-color', this.color);
    const label = document.createElement('span');
    label.className = 'cm-stet-label';
    label.textContent = this.name;
    caret.append(label);
    return caret;
  }
}

/** Replaces the cursors: [{id, name, color, head, anchor}], positions in UTF-16 units. */
export const setRemoteCursors = StateEffect.define();

function build(cursors, length) {
  const ranges = [];
  for (const c of cursors) {
    const head = Math.min(c.head, length), anchor = Math.min(c.anchor, length);
    if (anchor !== head) {
      ranges.push(Decoration.mark({ class: 'cm-stet-selection', attributes: { style: `--stet-color: ${c.color}` } })
        .range(Math.min(anchor, head), Math.max(anchor, head)));
    }
    ranges.push(Decoration.widget({ widget: new CaretWidget(c.id, c.name, c.color), side: 1 }).range(head));
  }
  return Decoration.set(ranges, true);
}

export const remoteCursorsField = StateField.define({
  create: () => Decoration.none,
  update(cursors, tr) {
    for (const e of tr.effects) if (e.is(setRemoteCursors)) return build(e.value, tr.state.doc.length);
    return tr.docChanged ? cursors.map(tr.changes) : cursors;
  },
  provide: (field) => EditorView.decorations.from(field),
});

// Zero net width for the caret, so the text does not move when it comes.
export const cursorTheme = EditorView.baseTheme({
  '.cm-stet-caret': {
    position: 'relative',
    borderLeft: '2px solid var(--stet-color)',
    marginLeft: '-1px',
    marginRight: '-1px',
    pointerEvents: 'none',
  },
  '.cm-stet-label': {
    position: 'absolute',
    bottom: '100%',
    left: '-2px',
    backgroundColor: 'var(--stet-color)',
    color: '#fff',
    font: '11px/16px system-ui, sans-serif',
    padding: '0 4px',
    borderRadius: '3px',
    whiteSpace: 'nowrap',
    opacity: '0.9',
    zIndex: '10',
  },
  '.cm-stet-selection': {
    backgroundColor: 'color-mix(in srgb, var(--stet-color) 25%, transparent)',
  },
});
