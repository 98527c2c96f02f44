// This client's undo and redo: inverses of its own edits, kept in the
// coordinates of the current text. Every edit someone else makes is
// transformed into them (policy merge: nothing of theirs is ever taken
// out), so an undo removes only what this client typed and restores only
// what it erased, wherever others' typing has moved it since.
import { compose, invert, transform } from './ot.js';

export class UndoHistory {
  /** `groupMs`: edits closer together than this undo as one step. `limit`: steps kept. */
  // Every edit of someone else's is transformed into every step kept: the
  // limit bounds that work as well as the memory.
  constructor({ groupMs = 500, limit = 100 } = {}) {
    this.groupMs = groupMs;
    this.limit = limit;
    this._undo = []; // inverses, the last applies to the current text
    this._redo = [];
    this._lastAt = -Infinity;
  }

  get canUndo() {
    return this._undo.length > 0;
  }

  get canRedo() {
    return this._redo.length > 0;
  }

  /** A local edit (deletes carrying their text) applied to the text. */
  record(op, origin, now = Date.now()) {
    const inverse = invert(op);
    if (origin === 'undo') return void this._redo.push(inverse);
    if (origin === 'redo') return void this._push(this._undo, inverse);
    this._redo = [];
    const top = this._undo.length - 1;
    // Undone first, then the step it joins: compose(inverse, step).
    if (top >= 0 && now - this._lastAt < this.groupMs) this._undo[top] = compose(inverse, this._undo[top]);
    else this._push(this._undo, inverse);
    this._lastAt = now;
  }

  /** Someone else's edit, applied to the current text. */
  rebase(op) {
    this._undo = rebaseStack(this._undo, op);
    this._redo = rebaseStack(this._redo, op);
  }

  /** The op that undoes (or redoes) the last step, or null; removes it. */
  take(origin) {
    const stack = origin === 'undo' ? this._undo : this._redo;
    this._lastAt = -Infinity; // what is typed next starts a step of its own
    return stack.pop() ?? null;
  }

  clear() {
    this._undo = [];
    this._redo = [];
  }

  _push(stack, op) {
    stack.push(op);
    if (stack.length > this.limit) stack.shift();
  }
}

// The last entry applies to the current text, each earlier one to the text
// after the ones above it were applied: `op` is carried down the stack.
function rebaseStack(stack, op) {
  const out = [];
  for (let i = stack.length - 1; i >= 0; i--) {
    const t = transform(op, stack[i], 'merge');
    if (!t.later.isNoop()) out.push(t.later); // what it would undo is gone already
    op = t.earlier;
  }
  return out.reverse();
}
