// How participants are shown, the same in every editor binding: a name the
// server vouches for and a colour derived from it, so one person has one
// colour in every participant's editor.

/** The participant's name: the server's user name, then the client id. */
export function peerName(p) {
  return p.user ? `${p.user} (${p.clientId})` : p.clientId;
}

/** Eight colours that stay apart from each other and readable under white text. */
export const PALETTE = Object.freeze(['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#46a0a8', '#c5a900', '#9a6324']);

/** The colour of participant `id` (its `Participant.id`) in `palette`. */
export function participantColor(id, palette = PALETTE) {
  let h = 7;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return palette[h % palette.length];
}
