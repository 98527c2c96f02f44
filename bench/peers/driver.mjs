// One load driver for stet and its peers, so the client side costs the
// same: D documents x C connections, W of them writing B-byte replace edits
// at R/s each (open loop: latency counts from when an edit was due). Every
// edit's text carries a marker [wN:due-ms]; receivers find it in the frame
// (stet: the JSON insert; Yjs: the raw update bytes) without applying it,
// and writers keep a real document (a Y.Doc for the peers, the revision for
// stet) so their edits are valid.
//   node driver.mjs stet|hocuspocus|y-websocket PORT --docs D --conns C
//        --writers W --rate R --bytes B --duration S [--warmup S]
// Prints one JSON line.
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'

const [kind, portArg, ...rest] = process.argv.slice(2)
const opt = { docs: 1, conns: 10, writers: 1, rate: 10, bytes: 200, duration: 10, warmup: 1 }
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = Number(rest[i + 1])
const port = Number(portArg)
const now = () => performance.now()

let measureFrom = Infinity
let measureTo = Infinity
let deliveriesTotal = 0
let deliveries = 0
const latencies = []
let errors = 0

function markerText (writer, due) {
  const head = `[w${writer}:${due.toFixed(3)}]`
  return head + 'x'.repeat(Math.max(0, opt.bytes - head.length))
}

// Counts every marker of another writer in `buf` as one delivery.
function deliver (buf, self, from = 0, to = buf.length) {
  let at = buf.indexOf('[w', from)
  while (at !== -1 && at < to) {
    const colon = buf.indexOf(':', at)
    const end = buf.indexOf(']', colon)
    if (colon === -1 || end === -1) return
    const writer = Number(buf.toString('latin1', at + 2, colon))
    if (writer !== self) {
      const due = Number(buf.toString('latin1', colon + 1, end))
      const t = now()
      deliveriesTotal++
      if (t >= measureFrom && t < measureTo) {
        deliveries++
        if (due >= measureFrom) latencies.push(t - due)
      }
    }
    at = buf.indexOf('[w', end)
  }
}

class Conn {
  constructor (index, doc, writer) {
    this.index = index
    this.doc = doc
    this.writer = writer // -1: reader
    this.joined = false
    this.seq = 0
    this.acked = 0
    this.rev = '0'
    if (kind !== 'stet') {
      this.ydoc = new Y.Doc()
      this.ytext = this.ydoc.getText('t')
      this.ydoc.on('update', (update, origin) => {
        if (origin !== 'remote') this.send(this.yMessage(e => { syncProtocol.writeUpdate(e, update) }))
      })
    }
  }

  open () {
    const url = kind === 'stet' ? `ws://127.0.0.1:${port}/ws`
      : kind === 'y-websocket' ? `ws://127.0.0.1:${port}/${this.doc}` : `ws://127.0.0.1:${port}/`
    return new Promise((resolve, reject) => {
      this.joinedCb = resolve
      this.ws = new WebSocket(url, { perMessageDeflate: false })
      this.ws.binaryType = 'nodebuffer'
      this.ws.on('error', e => { errors++; reject(e) })
      this.ws.on('open', () => this.hello())
      this.ws.on('message', (data) => this.onMessage(data))
    })
  }

  send (data) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data) }

  // Yjs message addressed as each server expects: Hocuspocus prefixes the
  // document name (it multiplexes documents on one socket).
  yMessage (write, type = 0) {
    const e = encoding.createEncoder()
    if (kind === 'hocuspocus') encoding.writeVarString(e, this.doc)
    encoding.writeVarUint(e, type)
    write(e)
    return encoding.toUint8Array(e)
  }

  hello () {
    if (kind === 'stet') {
      // A fresh client id per run: stet deduplicates (clientId, clientSeq) forever.
      this.send(JSON.stringify({ hello: { clientId: `c${this.index}-${process.pid}`, batch: true } }))
      this.send(JSON.stringify({ join: { docId: this.doc, policy: 'merge' } }))
      return
    }
    if (kind === 'hocuspocus') {
      // Auth (type 2): token "", then the provider version.
      this.send(this.yMessage(e => { encoding.writeVarUint(e, 0); encoding.writeVarString(e, ''); encoding.writeVarString(e, '4.7.0') }, 2))
    }
    this.send(this.yMessage(e => { syncProtocol.writeSyncStep1(e, this.ydoc) }))
  }

  joinedNow () {
    if (!this.joined) { this.joined = true; this.joinedCb() }
  }

  onMessage (data) {
    if (kind === 'stet') {
      // Batched frames carry several messages, one per line.
      for (let at = 0; at < data.length;) {
        let end = data.indexOf(10, at)
        if (end === -1) end = data.length
        this.onStetMessage(end === data.length && at === 0 ? data : data.subarray(at, end))
        at = end + 1
      }
      return
    }
    this.onYjsMessage(data)
  }

  onStetMessage (data) {
    const kindOf = data.toString('latin1', 2, 4) // {"ap(plied)", {"ac(k)", {"sn(apshot)", {"er(ror)"
    if (kindOf === 'ap') {
      const rev = /"rev":"(\d+)"/.exec(data.toString('latin1', 0, 80))
      if (rev) this.rev = rev[1]
      // Only the inserted text: a delete carries the text it removed.
      const ins = data.indexOf('"insert":"')
      if (ins !== -1) deliver(data, this.writer, ins, data.indexOf('"', ins + 10))
    } else if (kindOf === 'ac') {
      this.acked++
      const rev = /"rev":"(\d+)"/.exec(data.toString('latin1'))
      if (rev) this.rev = rev[1]
    } else if (kindOf === 'sn') {
      const rev = /"rev":"(\d+)"/.exec(data.toString('latin1', 0, 200))
      if (rev) this.rev = rev[1]
      this.joinedNow()
    } else if (kindOf === 'er') {
      errors++
    }
  }

  onYjsMessage (data) {
    const d = decoding.createDecoder(data)
    if (kind === 'hocuspocus') decoding.readVarString(d)
    const type = decoding.readVarUint(d)
    if (type === 2 && kind === 'hocuspocus') return // auth answer: the sync step 2 follows
    if (type !== 0) return // awareness and the rest
    const sub = decoding.readVarUint(d)
    if (sub === syncProtocol.messageYjsSyncStep1) {
      const sv = decoding.readVarUint8Array(d)
      this.send(this.yMessage(e => { syncProtocol.writeSyncStep2(e, this.ydoc, sv) }))
    } else if (sub === syncProtocol.messageYjsSyncStep2) {
      const update = decoding.readVarUint8Array(d)
      if (this.writer >= 0) Y.applyUpdate(this.ydoc, update, 'remote')
      this.joinedNow()
    } else if (sub === syncProtocol.messageYjsUpdate) {
      const update = decoding.readVarUint8Array(d)
      deliver(Buffer.from(update.buffer, update.byteOffset, update.byteLength), this.writer)
      if (this.writer >= 0) Y.applyUpdate(this.ydoc, update, 'remote')
    }
  }

  edit (due) {
    this.seq++
    const text = markerText(this.writer, due)
    if (kind === 'stet') {
      // Inserts until the first ack: before that the text to delete may not exist yet.
      const ops = this.acked === 0 ? [{ insert: text }] : [{ delete: opt.bytes }, { insert: text }]
      this.send(JSON.stringify({ edit: { docId: this.doc, baseRev: this.rev, clientSeq: String(this.seq), ops } }))
      return
    }
    this.ydoc.transact(() => {
      if (this.ytext.length >= opt.bytes) this.ytext.delete(0, opt.bytes)
      this.ytext.insert(0, text)
    })
  }
}

const conns = []
let w = 0
for (let d = 0; d < opt.docs; d++) {
  for (let c = 0; c < opt.conns; c++) {
    conns.push(new Conn(conns.length, `bench-${d}`, c < opt.writers ? w++ : -1))
  }
}
for (let i = 0; i < conns.length; i += 200) await Promise.all(conns.slice(i, i + 200).map(c => c.open()))

// Open loop: one 1 ms tick sends everything due.
const writers = conns.filter(c => c.writer >= 0)
const interval = 1000 / opt.rate
const t0 = now() + 20
measureFrom = t0 + opt.warmup * 1000
measureTo = measureFrom + opt.duration * 1000
const next = writers.map((c, i) => t0 + (interval * (i % 97)) / 97)
await new Promise(resolve => {
  const tick = setInterval(() => {
    const t = now()
    if (t >= measureTo) { clearInterval(tick); resolve(); return }
    for (let i = 0; i < writers.length; i++) {
      while (next[i] <= t) { writers[i].edit(next[i]); next[i] += interval }
    }
  }, 1)
})
await new Promise(resolve => setTimeout(resolve, 500))
latencies.sort((a, b) => a - b)
const q = p => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : 0
console.log(JSON.stringify({
  server: kind,
  connections: conns.length,
  writers: writers.length,
  seconds: opt.duration,
  deliveries_total: deliveriesTotal,
  deliveries,
  deliveries_per_second: deliveries / opt.duration,
  delivery_latency: { count: latencies.length, p50_ms: q(0.5), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: latencies.at(-1) ?? 0 },
  errors
}))
for (const c of conns) c.ws.terminate()
process.exit(0)
