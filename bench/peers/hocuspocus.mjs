// Hocuspocus with its defaults (documents in memory, no extensions) on
// 127.0.0.1:<port>. Usage: node hocuspocus.mjs PORT
import { Server } from '@hocuspocus/server'

const server = new Server({ port: Number(process.argv[2]), address: '127.0.0.1', quiet: true })
await server.listen()
