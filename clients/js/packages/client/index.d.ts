// Type declarations of @stet/client (written by hand; src/ is plain ESM).
// Positions and lengths count Unicode code points, as the server does.

export type Policy = 'lww' | 'merge';
export type Status = 'connecting' | 'connected' | 'disconnected';

/** One component of an operation on the wire; a trailing retain may be left out. */
export type Component = { retain: number } | { insert: string } | { delete: number; deleted?: string };

/** A token, or where to get one: called before every hello (each reconnect, and when the server says it expired). */
export type TokenSource =
  | string
  | null
  | undefined
  | (() => string | null | undefined | Promise<string | null | undefined>);

/** What the connection needs of a WebSocket: the browser's, or the `ws` package's in Node. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface StetConnectionOptions {
  /** The node's WebSocket address, e.g. `wss://stet.example.com/ws`. */
  url: string;
  token?: TokenSource;
  /** Names this client to others and keys resends; random unless given. */
  clientId?: string;
  /** The WebSocket class to use where there is no global one (Node before 22). */
  WebSocketPolyfill?: WebSocketConstructor;
  /** First reconnect step in ms (1000); each failed attempt doubles it up to `maxDelay` (30000), with jitter. */
  minDelay?: number;
  maxDelay?: number;
  /** Connect in the constructor (true). */
  connect?: boolean;
  /**
   * Keep unacknowledged edits in `storage` and resend them from the next
   * connection on it; the client id is then the stored one (`clientId` is
   * stored the first time). Edits are sent only once stored.
   */
  persistence?: PersistenceOptions;
}

/**
 * Where persisted records live: values are JSON-like objects, keys arrays
 * of strings. `update` stores fn(current or null) with no other write in
 * between (two tabs must not both create a client id).
 */
export interface RecordStorage {
  get(key: string[]): Promise<any | null>;
  put(key: string[], value: any): Promise<void>;
  update(key: string[], fn: (current: any | null) => any): Promise<any>;
  /** Used when storage fails mid-session: a stale record would bring back typing the server has had. */
  delete?(key: string[]): Promise<void>;
}

export interface PersistenceOptions {
  storage: RecordStorage;
  /** The user the connection's token signs in (records are keyed by it); a welcome naming another user is refused (`wrong_user`). */
  user?: string;
}

/** Records in memory: for Node and tests; gone with the process. */
export declare class MemoryStorage implements RecordStorage {
  constructor();
  get(key: string[]): Promise<any | null>;
  put(key: string[], value: any): Promise<void>;
  update(key: string[], fn: (current: any | null) => any): Promise<any>;
}

/** Records in the browser's IndexedDB (database `name`, 'stet' unless given): they survive reloads and browser restarts. */
export declare class IndexedDbStorage implements RecordStorage {
  constructor(options?: { name?: string; indexedDB?: IDBFactory });
  readonly name: string;
  get(key: string[]): Promise<any | null>;
  put(key: string[], value: any): Promise<void>;
  update(key: string[], fn: (current: any | null) => any): Promise<any>;
}

/**
 * An `error` message of the server (docs/protocol.md lists the codes), or
 * `token_unavailable` when the token function threw, `storage_failed` when
 * persistence cannot store (edits then go unstored), `wrong_user` when the
 * token signs in another user than persistence is for.
 */
export interface StetError {
  code: string;
  message: string;
  docId?: string;
  clientSeq?: number;
}

export interface StatusEvent {
  status: Status;
  /** Seconds until the next attempt, when disconnected and retrying. */
  retryIn?: number;
}

export interface ConnectionEvents {
  status: StatusEvent;
  error: StetError;
}

export interface OpenOptions {
  /** Conflict policy of the document if this join creates it. */
  policy?: Policy;
  /** Local edits closer together than this (ms) undo as one step; 500. */
  undoGroupMs?: number;
}

/** The on/off/once emitter of connections and documents. */
export declare class Emitter<Events> {
  on<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): this;
  off<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): this;
  once<K extends keyof Events>(event: K, fn: (payload: Events[K]) => void): this;
  removeAllListeners(): void;
}

/** One WebSocket shared by every document opened on it; reconnects until destroyed. */
export declare class StetConnection extends Emitter<ConnectionEvents> {
  constructor(options: StetConnectionOptions);
  readonly url: string;
  /** Replaceable: the next hello uses the new value. */
  token: TokenSource;
  readonly clientId: string;
  /** The id others see this client by (the server's welcome says). */
  readonly shownId: string;
  /** The user the token named ('' when anonymous). */
  readonly username: string;
  readonly status: Status;
  readonly isConnected: boolean;
  readonly hasUnsyncedChanges: boolean;
  readonly documents: ReadonlyMap<string, StetDocument>;
  /** The handle of `docId` (the same one while it is open). */
  open(docId: string, options?: OpenOptions): StetDocument;
  connect(): void;
  /** Closes the socket; documents stay open and resume on `connect`. */
  disconnect(): void;
  /** Leaves every document and closes for good; unsynced edits are lost, unless persisted. */
  destroy(): void;
}

export interface Participant {
  /** Stable key: the user and client id (see `name`). */
  id: string;
  /** `user (clientId)`, or the client id for an anonymous session. */
  name: string;
  clientId: string;
  user: string | null;
  /** Code points; null until the participant moves. */
  cursor: number | null;
  anchor: number | null;
}

export interface ChangeEvent {
  /** True for `edit()`, `undo()` and `redo()` on this handle; false for others' edits and undone refusals. */
  local: boolean;
  /**
   * `edit`: made through `edit()` (an editor binding has it already);
   * `undo`/`redo`: made by `undo()`/`redo()`; `remote`: others' edits and
   * undone refusals. Bindings show every change whose origin is not `edit`.
   */
  origin: 'edit' | 'undo' | 'redo' | 'remote';
  /** The change, over the text before it (deletes carry the removed text). */
  ops: Component[];
  op: Op;
  rev: number;
}

export interface Conflict {
  docId: string;
  /** Our edit that lost under lww. */
  clientSeq: number;
  /** The revision of the later edit that won. */
  rev: number;
  dropped?: string;
  restored?: string;
}

/** A message of a comment thread. */
export interface CommentEntry {
  /** The revision that added it. */
  readonly rev: number;
  /** The author's user id (0: anonymous). */
  readonly userId: number;
  /** The author's user name; null for an anonymous session. */
  readonly user: string | null;
  readonly text: string;
  /** The server's hybrid clock stamp (ms << 16 | counter), exact, as a decimal string. */
  readonly ts: string;
  /** When, in ms since the epoch (`new Date(time)`). */
  readonly time: number;
}

/** A comment thread on a range of the text. Records are replaced, never changed. */
export interface CommentThread {
  /** The revision that opened it. */
  readonly id: number;
  /** The range [start, end), code points of the document's `text`. */
  readonly start: number;
  readonly end: number;
  /** Its text was deleted: start === end, where it was; it never anchors again. */
  readonly detached: boolean;
  readonly resolved: boolean;
  /** The opening message, then the replies in order. */
  readonly entries: readonly CommentEntry[];
}

/** A change to the threads, as a revision applied it. */
export interface CommentAction {
  kind: 'open' | 'reply' | 'resolve' | 'reopen' | 'delete';
  thread: number;
  rev: number;
  userId: number;
  user: string | null;
  /** The message of `open` and `reply`; '' otherwise. */
  text: string;
}

export interface CommentsEvent {
  /** `StetDocument.comments`. */
  threads: readonly CommentThread[];
  /** The change that came; null when a snapshot replaced the threads or an edit moved them. */
  action: CommentAction | null;
}

/** Why a comment request failed: the server's error code (or `http_<status>`, `detached`, `timeout`, `closed`). */
export interface CommentError extends Error {
  code: string;
  /** The HTTP status, when the server answered. */
  status?: number;
}

export interface AddCommentOptions {
  /** How long to wait for the server to have every local edit (15000 ms). */
  timeoutMs?: number;
}

export interface DocumentEvents {
  /** The join's snapshot arrived: `text` follows the server from here on. */
  synced: { rev: number };
  change: ChangeEvent;
  /** The threads changed, or an edit moved their ranges (after its `change`). */
  comments: CommentsEvent;
  presence: { participants: Participant[] };
  conflict: Conflict;
  error: StetError;
  unsyncedChanges: { count: number };
}

/** An open document: its text, optimistic local edits, others' presence. */
export declare class StetDocument extends Emitter<DocumentEvents> {
  readonly connection: StetConnection;
  readonly id: string;
  readonly policy: Policy;
  /** The server's revision this handle has seen. */
  readonly rev: number;
  /** The server's text at `rev` with this client's unacknowledged edits on top. */
  readonly text: string;
  /** Joined, and this join's snapshot has arrived. */
  readonly synced: boolean;
  readonly closed: boolean;
  readonly hasUnsyncedChanges: boolean;
  /** How many `edit()` calls the server has not acknowledged. */
  readonly unsyncedChanges: number;
  readonly participants: Participant[];
  /** A local edit over `text`; throws a RangeError when it spans more than `text`. */
  edit(ops: Op | Component[]): void;
  insert(position: number, text: string): void;
  delete(position: number, count: number): void;
  /** Replaces the text, as one edit of the part that differs. */
  setText(text: string): void;
  /**
   * Undoes this client's last step (its edits within `undoGroupMs` of each
   * other), transformed past everyone else's edits since: never anyone
   * else's text. False when there is nothing to undo.
   */
  undo(): boolean;
  /** Redoes the last undone step; false when there is none. Typing clears it. */
  redo(): boolean;
  readonly canUndo: boolean;
  readonly canRedo: boolean;
  setPresence(cursor: number, anchor?: number): void;
  /**
   * The comment threads in document order, ranges in code points of
   * `text` (the server's ranges moved through this client's unacknowledged
   * edits). The same array until something changes.
   */
  readonly comments: readonly CommentThread[];
  /**
   * Opens a thread on [start, end) of `text` through the REST API (the
   * connection's url with http(s) and its token). Waits until the server has
   * every local edit, moving the range with changes meanwhile, then sends
   * it at `rev`. Resolves once the server has stored it; the thread itself
   * comes as a `comments` event. Rejects with a RangeError for an empty or
   * out-of-text range, and with a CommentError.
   */
  addComment(start: number, end: number, text: string, options?: AddCommentOptions): Promise<{ rev: number; thread: number }>;
  replyToComment(thread: number, text: string): Promise<{ rev: number }>;
  resolveComment(thread: number): Promise<{ rev: number }>;
  reopenComment(thread: number): Promise<{ rev: number }>;
  /** The thread's author or the document's owner may. */
  deleteComment(thread: number): Promise<{ rev: number }>;
  /** Leaves the document; unsynced edits are given up, unless persisted (the next open resends them). */
  close(): void;
}

// -- tabs of one browser sharing one connection per document (tabs.js) --

/** The real document's state in the tab that holds its connection. */
export interface ServerState {
  status: Status;
  /** Seconds until the leader's next attempt, when disconnected and retrying. */
  retryIn?: number;
  /** The server's revision the real document has seen. */
  rev: number;
  /** Edits of any tab the server has not acknowledged. */
  unsyncedChanges: number;
  synced: boolean;
}

export interface TabDocumentEvents extends DocumentEvents {
  /** `server` changed. */
  server: ServerState;
}

/**
 * A TabConnection's document handle: a StetDocument whose "server" is the
 * tab hub of the tab holding the document's connection. `rev` counts the
 * hub's revisions; `server.rev` is the server's. `hasUnsyncedChanges` and
 * `unsyncedChanges` count what the server has not acknowledged, here or in
 * the leader tab. Comment requests are made by the leader tab.
 */
export declare class TabDocument extends StetDocument {
  readonly server: ServerState;
  /** Whether this tab holds the document's connection. */
  readonly isLeader: boolean;
  on<K extends keyof TabDocumentEvents>(event: K, fn: (payload: TabDocumentEvents[K]) => void): this;
  off<K extends keyof TabDocumentEvents>(event: K, fn: (payload: TabDocumentEvents[K]) => void): this;
  once<K extends keyof TabDocumentEvents>(event: K, fn: (payload: TabDocumentEvents[K]) => void): this;
  /**
   * Leaves the document in this tab; if this tab held its connection, another
   * tab with it open takes over. Listeners go at once; `closed` turns true
   * once a tab hub has applied what was typed here (10 s at most).
   */
  close(): void;
}

export interface TabConnectionOptions {
  url: string;
  token?: TokenSource;
  /** The user the token signs in: the stored records are this user's. */
  user?: string;
  /** Stored as this browser's client id for the user when none is stored yet. */
  clientId?: string;
  /** An IndexedDbStorage unless given. */
  storage?: RecordStorage;
  WebSocketPolyfill?: WebSocketConstructor;
  minDelay?: number;
  maxDelay?: number;
  /** navigator.locks unless given: one lock per document elects the tab that holds its connection. */
  locks?: { request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => Promise<unknown>): Promise<unknown> };
  /** The global BroadcastChannel unless given. */
  BroadcastChannel?: new (name: string) => { postMessage(message: unknown): void; close(): void; onmessage: ((event: { data: any }) => void) | null };
}

/**
 * The tabs of one browser sharing one connection per document, with
 * unacknowledged typing kept in storage and resent when a page opens the
 * document again. The tab that opened a document first holds its
 * connection (its Web Lock); when it closes the document or goes, another
 * tab with the document open takes over.
 */
export declare class TabConnection extends Emitter<ConnectionEvents> {
  /** Whether `env` (globalThis) has Web Locks, BroadcastChannel and IndexedDB. */
  static supported(env?: unknown): boolean;
  constructor(options: TabConnectionOptions);
  readonly url: string;
  /** Replaceable: the next hello uses the new value. */
  token: TokenSource;
  readonly user: string;
  readonly storage: RecordStorage;
  /** The status of the connection of the open documents, as the leader tab reports it. */
  readonly status: Status;
  /** The real connection while this tab holds some document's, else null. */
  readonly connection: StetConnection | null;
  readonly documents: ReadonlyMap<string, TabDocument>;
  readonly hasUnsyncedChanges: boolean;
  /** Typing of this tab that no tab hub has stored yet: lost if the tab goes now. */
  readonly hasUnstoredChanges: boolean;
  /** The handle of `docId` in this tab (the same one while it is open). */
  open(docId: string, options?: OpenOptions): TabDocument;
  /** Closes every document; resolves once each connection held here is handed over. */
  destroy(): Promise<void>;
}

/** `user (clientId)`, or the client id alone for an anonymous participant. */
export declare function peerName(p: { clientId: string; user?: string | null }): string;
/** Eight CSS colours (#rrggbb). */
export declare const PALETTE: readonly string[];
/** The colour of participant `id` in `palette` (PALETTE): the same in every editor. */
export declare function participantColor(id: string, palette?: readonly string[]): string;

// -- the op algebra (the same as the server's core) --

export interface OpComponent {
  readonly k: 'r' | 'i' | 'd';
  readonly n: number;
  /** Inserted text, or removed text when known. */
  readonly t: string;
}

/** A normalised operation; builders chain. */
export declare class Op {
  readonly cs: readonly OpComponent[];
  retain(n: number): this;
  insert(text: string, n?: number): this;
  erase(n: number, removed?: string): this;
  inputLength(): number;
  isNoop(): boolean;
  toWire(withDeleted?: boolean): Component[];
  static fromWire(ops: readonly Component[] | null | undefined): Op;
}

export interface TransformResult {
  /** The earlier op, to apply after the later one. */
  earlier: Op;
  /** The later op, to apply after the earlier one. */
  later: Op;
  /** The earlier op's changes undone under lww. */
  dropped: { position: number; inserted: string; erased: string }[];
}

export declare function apply(text: string, op: Op): string;
export declare function compose(a: Op, b: Op): Op;
export declare function invert(op: Op): Op;
export declare function transform(earlier: Op, later: Op, policy: Policy): TransformResult;
export declare function transformPosition(position: number, op: Op, insertBefore?: boolean): number;
export declare function withRemovedText(text: string, op: Op): Op;
export declare function diffOp(from: string, to: string): Op;

export interface CommentRange {
  start: number;
  end: number;
  detached: boolean;
}
/**
 * The server's anchor rule: `range` after `op`. An insert at the start goes
 * before it, at the end after it, strictly inside extends it; erasing all
 * of it detaches it (start === end), for good.
 */
export declare function moveRange(range: CommentRange, op: Op): CommentRange;

// -- code points and UTF-16 --

export declare function cpLength(s: string): number;
export declare function cpOffset(s: string, utf16: number): number;
export declare function cpSlice(s: string, start: number, count: number): string;
export declare function utf16Offset(s: string, cp: number): number;
export declare function utf16Advance(s: string, fromUtf16: number, cp: number): number;
/** UTF-16 offsets of many code point positions, in one pass: position -> offset. */
export declare function utf16Offsets(s: string, cps: Iterable<number>): Map<number, number>;
