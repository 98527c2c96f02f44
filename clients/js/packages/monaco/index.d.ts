// Type declarations of @stet/monaco (written by hand; src/ is plain ESM).
import type { editor as monacoEditor } from 'monaco-editor';
import type { CommentThread, Op, StetDocument } from '@stet/client';

export interface MonacoBindingOptions {
  /** CSS colours for participants (@stet/client's PALETTE). */
  palette?: readonly string[];
  /** Add the cursor CSS (cursorStyles()) to the page once (true). */
  injectStyles?: boolean;
  /** Quiet time in ms before the local cursor is sent (30). */
  presenceDelay?: number;
}

/**
 * Keeps `editor`'s model equal to `doc` (the model's text is replaced by the
 * document's), sends the cursor and selection as presence, and shows other
 * participants' cursors, selections and names. Edits from others are not
 * put on the local undo stack.
 */
export declare class MonacoBinding {
  constructor(doc: StetDocument, editor: monacoEditor.IStandaloneCodeEditor, options?: MonacoBindingOptions);
  readonly doc: StetDocument;
  readonly editor: monacoEditor.IStandaloneCodeEditor;
  readonly model: monacoEditor.ITextModel;
  /** Stops following the document and removes the remote cursors. */
  destroy(): void;
}

export interface CommentHighlightsOptions {
  /** Which threads to highlight; default: unresolved ones whose text is still there. */
  filter?: (thread: CommentThread) => boolean;
  /** Add the highlight CSS (commentStyles()) to the page once (true). */
  injectStyles?: boolean;
}

/**
 * Highlights `doc`'s comment threads in `editor` (bound to `doc` by a
 * MonacoBinding): decorations with classes `stet-comment` and
 * `stet-comment-<id>`, redrawn whenever `doc` emits `comments`.
 */
export declare class CommentHighlights {
  constructor(doc: StetDocument, editor: monacoEditor.IStandaloneCodeEditor, options?: CommentHighlightsOptions);
  readonly doc: StetDocument;
  /** The thread marked `stet-comment-active`, or null. */
  readonly active: number | null;
  setActive(id: number | null): void;
  /** Redraws from `doc.comments` now (it happens on its own after every change). */
  render(): void;
  dispose(): void;
}

/** The CSS for comment highlights (classes stet-comment, stet-comment-active). */
export declare function commentStyles(): string;

/** The CSS for remote cursors (classes stet-remote-cursor, -selection, -label, stet-color-N). */
export declare function cursorStyles(palette?: readonly string[]): string;

/** The op of one content change event over `before`, the model's text before it. */
export declare function opFromMonacoChanges(before: string, changes: readonly monacoEditor.IModelContentChange[]): Op;

/** Edits for `model.applyEdits` doing wire ops `ops` to `text` (`positionAt`: the model's getPositionAt). */
export declare function monacoEditsFromOps(
  text: string,
  ops: readonly import('@stet/client').Component[],
  positionAt: (offset: number) => { lineNumber: number; column: number },
): monacoEditor.IIdentifiedSingleEditOperation[];
