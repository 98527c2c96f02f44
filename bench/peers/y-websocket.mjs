// y-websocket's server (@y/websocket-server, documents in memory, the room
// is the URL path), wired exactly as its own bin/server does, on
// 127.0.0.1:<port>. Usage: node y-websocket.mjs PORT
import http from 'http'
import { WebSocketServer } from 'ws'
import { setupWSConnection } from '@y/websocket-server/utils'

const wss = new WebSocketServer({ noServer: true })
wss.on('connection', setupWSConnection)
const server = http.createServer((_req, res) => { res.writeHead(200); res.end('okay') })
server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req)))
server.listen(Number(process.argv[2]), '127.0.0.1')
