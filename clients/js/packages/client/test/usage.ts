// The README's example and every declared member, checked by tsc (types.test.mjs).
import { StetConnection, Op, transform, cpLength, moveRange, participantColor, IndexedDbStorage, MemoryStorage, TabConnection, type CommentError, type CommentRange, type Participant, type RecordStorage, type ServerState, type StetError, type TabDocument, type WebSocketConstructor } from '@stet/client';

declare const WebSocket: WebSocketConstructor; // the ws package in Node, which ships no types

const connection = new StetConnection({
  url: 'ws://127.0.0.1:8080/ws',
  token: async () => 'token from POST /api/login',
  WebSocketPolyfill: WebSocket,
});
connection.on('status', ({ status, retryIn }) => console.log(status, retryIn ?? 0));
connection.on('error', (e: StetError) => console.log(e.code, e.message));
const doc = connection.open('notes', { policy: 'merge', undoGroupMs: 300 });
doc.on('synced', ({ rev }) => doc.insert(cpLength(doc.text), `rev ${rev}\n`));
doc.on('change', ({ local, origin, ops, op }) => console.log(local, origin === 'undo', ops.length, op.isNoop()));
doc.on('presence', ({ participants }) => participants.forEach((p: Participant) => console.log(p.name, p.cursor, participantColor(p.id))));
doc.on('conflict', (c) => console.log(c.dropped, c.restored, c.rev));
doc.on('unsyncedChanges', ({ count }) => console.log(count, doc.hasUnsyncedChanges, connection.hasUnsyncedChanges));
doc.edit([{ retain: 1 }, { insert: 'x' }, { delete: 2 }]);
doc.edit(new Op().retain(2).erase(1));
doc.setText('whole text');
doc.setPresence(3, 1);
if (doc.canUndo && doc.undo() && doc.canRedo) doc.redo();
doc.on('comments', ({ threads, action }) => console.log(threads.length, action?.kind, action?.user));
for (const t of doc.comments) console.log(t.id, doc.text.slice(t.start, t.end), t.detached, t.resolved, t.entries[0]?.time);
doc.addComment(0, 4, 'why?', { timeoutMs: 5000 }).then(({ thread }) => doc.replyToComment(thread, 'because'))
  .catch((e: CommentError) => console.log(e.code, e.status));
void doc.resolveComment(1).then(({ rev }) => doc.reopenComment(rev)).then(() => doc.deleteComment(1));
const moved: CommentRange = moveRange({ start: 1, end: 3, detached: false }, new Op().insert('x'));
console.log(moved.start);
const t = transform(new Op().insert('a'), new Op().erase(1), doc.policy);
const n: number = t.later.inputLength() + doc.rev + doc.unsyncedChanges;
console.log(n, doc.synced, connection.status === 'connected', connection.documents.get('notes') === doc);
connection.token = 'a new token';
doc.close();
connection.destroy();

// Persistence and tabs sharing one connection per document.
const persisted = new StetConnection({ url: 'ws://127.0.0.1:8080/ws', token: 'tok', WebSocketPolyfill: WebSocket,
  persistence: { storage: new MemoryStorage(), user: 'alice' } });
persisted.open('notes').close(); // the next open resends what was unsynced
const storage: RecordStorage = TabConnection.supported() ? new IndexedDbStorage({ name: 'stet' }) : new MemoryStorage();
const tabs = new TabConnection({ url: 'wss://stet.example.com/ws', token: () => 'tok', user: 'alice', clientId: 'alice-1', storage });
tabs.on('status', ({ status, retryIn }) => console.log(status, retryIn));
const shared: TabDocument = tabs.open('notes', { undoGroupMs: 300 });
shared.on('server', ({ rev, unsyncedChanges, synced, status }: ServerState) => console.log(rev, unsyncedChanges, synced, status));
shared.on('change', ({ ops }) => console.log(ops.length, shared.isLeader, shared.server.rev, tabs.connection?.clientId));
console.log(tabs.documents.get('notes') === shared, tabs.hasUnsyncedChanges, tabs.hasUnstoredChanges, tabs.status, tabs.user, tabs.storage === storage);
void tabs.destroy().then(() => persisted.destroy());
