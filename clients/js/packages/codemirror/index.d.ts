// Type declarations of @stet/codemirror (written by hand; src/ is plain ESM).
import type { Annotation, ChangeSet, ChangeSpec, Extension, StateEffectType, StateField, Text } from '@codemirror/state';
import type { DecorationSet, EditorView } from '@codemirror/view';
import type { CommentThread, Component, Op, StetDocument } from '@stet/client';

export interface StetCollabOptions {
  /** CSS colours for participants (@stet/client's PALETTE). */
  palette?: readonly string[];
  /** Quiet time in ms before the local selection is sent (30). */
  presenceDelay?: number;
}

/**
 * The extension binding a view to `doc`: local edits go to the document,
 * others' edits come into the view (not onto its undo history), the
 * selection is sent as presence and others' cursors, selections and names
 * are shown. Create the state with `doc: stetDocument.text`; a view that
 * differs is overwritten with the document's text. It sets the state's
 * line separator to "\n", so a "\r" stays a character as in the document.
 */
export declare function stetCollab(doc: StetDocument, options?: StetCollabOptions): Extension;

/** Marks transactions carrying others' edits and cursor updates. */
export declare const remoteEdit: Annotation<boolean>;

export interface RemoteCursor {
  id: string;
  name: string;
  /** A CSS colour. */
  color: string;
  /** UTF-16 offsets in the view's document. */
  head: number;
  anchor: number;
}

/** Replaces the remote cursors shown by remoteCursorsField. */
export declare const setRemoteCursors: StateEffectType<RemoteCursor[]>;
export declare const remoteCursorsField: StateField<DecorationSet>;

export interface StetCommentsOptions {
  /** Which threads to highlight; default: unresolved ones whose text is still there. */
  filter?: (thread: CommentThread) => boolean;
}

/**
 * The extension highlighting `doc`'s comment threads (beside
 * `stetCollab(doc)`): marks with class `cm-stet-comment` and the thread's
 * id in `data-thread`, redrawn whenever `doc` emits `comments`.
 */
export declare function stetComments(doc: StetDocument, options?: StetCommentsOptions): Extension;
/** Marks thread `id` (null: none) with `cm-stet-comment-active` in `view`. */
export declare function setActiveComment(view: EditorView, id: number | null): void;

export interface CommentMark {
  id: number;
  /** UTF-16 offsets in the view's document. */
  from: number;
  to: number;
  active?: boolean;
}
/** Replaces the highlights shown by commentsField. */
export declare const setComments: StateEffectType<CommentMark[]>;
export declare const commentsField: StateField<DecorationSet>;

/** The op of `changes` over `before`, the document they apply to. */
export declare function opFromChangeSet(changes: ChangeSet, before: Text): Op;
/** Change specs (UTF-16 positions over `text`) doing wire ops `ops` to `text`. */
export declare function changesFromOps(text: string, ops: readonly Component[]): ChangeSpec[];
