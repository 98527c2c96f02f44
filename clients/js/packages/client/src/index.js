// @stet/client: the stet protocol client (one connection, many documents,
// the optimistic OT client) and the op algebra it shares with the server.
export { StetConnection } from './connection.js';
export { Emitter } from './emitter.js';
export { StetDocument } from './document.js';
export { IndexedDbStorage, MemoryStorage } from './persistence.js';
export { TabConnection, TabDocument } from './tabs.js';
export { PALETTE, participantColor, peerName } from './presence.js';
export { Op, apply, compose, invert, transform, transformPosition, withRemovedText } from './ot.js';
export { diffOp } from './diff.js';
export { moveRange } from './comments.js';
export { cpLength, cpOffset, cpSlice, utf16Advance, utf16Offset, utf16Offsets } from './unicode.js';
