// An independent Nostr relay for fedai's interop and fault tests: @nostr-relay/core with its
// SQLite event repository (both pinned in package.json), served over `ws` on 127.0.0.1.
//
//   node independent_relay.mjs [--port N] [--db FILE] [--auth] [--gated] [--log-req]
//                              [--tls-cert F --tls-key F]
//
// Prints `relay: ws://127.0.0.1:PORT` (wss:// with TLS) on stdout once it is listening, then
// one line per connection event on stderr. --port 0 (the default) picks a free port.
//   --db FILE   store events in FILE (default: in memory), so a restarted relay keeps them
//   --auth      NIP-42: send an AUTH challenge on connect and refuse REQ and EVENT with
//               `auth-required:` until the client authenticates
//   --gated     refuse WebSocket upgrades on "/" with 503 until a line "open" arrives on stdin;
//               "/side" is always open (a test publishes there while the pool is kept out)
//   --log-req   print every REQ it receives on stdout as `req: <json>`
// NIP-11: GET / with `Accept: application/nostr+json` returns the information document.
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

let NostrRelay, EventRepositorySqlite, WebSocketServer
try {
  ;({ NostrRelay } = await import('@nostr-relay/core'))
  ;({ EventRepositorySqlite } = await import('@nostr-relay/event-repository-sqlite'))
  ;({ WebSocketServer } = await import('ws'))
} catch (e) {
  console.error(`independent_relay: cannot load @nostr-relay packages (${e.message}).`)
  console.error('Run scripts/setup, which runs `npm ci` in tests/interop.')
  process.exit(1)
}

const args = { port: 0, db: ':memory:', auth: false, gated: false, logReq: false, tlsCert: null, tlsKey: null }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  const value = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`)
    return argv[++i]
  }
  if (a === '--port') args.port = Number(value())
  else if (a === '--db') args.db = value()
  else if (a === '--auth') args.auth = true
  else if (a === '--gated') args.gated = true
  else if (a === '--log-req') args.logReq = true
  else if (a === '--tls-cert') args.tlsCert = value()
  else if (a === '--tls-key') args.tlsKey = value()
  else usage(`unknown argument ${a}`)
}
if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) usage('--port must be 0..65535')
function usage(message) {
  console.error('usage: node independent_relay.mjs [--port N] [--db FILE] [--auth] [--gated] [--log-req] [--tls-cert F --tls-key F]')
  console.error(`error: ${message}`)
  process.exit(2)
}

const HOST = '127.0.0.1'
const tls = args.tlsCert && args.tlsKey
const repository = new EventRepositorySqlite(args.db)
await repository.init()
// No result caches: a test that publishes and queries at once must see the event.
const relay = new NostrRelay(repository, {
  hostname: args.auth ? HOST : undefined,
  filterResultCacheTtl: 0,
  logLevel: 3, // errors only
})

// --auth: until the connection has authenticated, REQ and EVENT are refused the way NIP-42
// says (the library itself only does so for DMs).
if (args.auth) {
  relay.register({
    async handleMessage(ctx, message, next) {
      if (ctx.pubkey || message[0] === 'AUTH' || message[0] === 'CLOSE') return next()
      if (message[0] === 'REQ') {
        ctx.sendMessage(['CLOSED', message[1], 'auth-required: this relay serves authenticated clients only'])
        return { messageType: 'REQ', events: [] }
      }
      if (message[0] === 'EVENT') {
        ctx.sendMessage(['OK', message[1]?.id ?? '', false, 'auth-required: authenticate first'])
        return { messageType: 'EVENT', success: false }
      }
      return next()
    },
  })
}

const information = {
  name: 'fedai interop relay',
  description: '@nostr-relay/core 0.0.40 with @nostr-relay/event-repository-sqlite 0.0.40',
  software: 'https://github.com/CodyTseng/nostr-relay',
  version: '0.0.40',
  supported_nips: args.auth ? [1, 11, 42] : [1, 11],
  limitation: { max_message_length: 131072, max_subscriptions: 20, auth_required: args.auth },
}

function handleHttp(req, res) {
  res.setHeader('Access-Control-Allow-Origin', '*')
  if (req.method === 'GET' && (req.headers.accept ?? '').includes('application/nostr+json')) {
    res.writeHead(200, { 'Content-Type': 'application/nostr+json' })
    res.end(JSON.stringify(information))
    return
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' })
  res.end('Use a Nostr client (or Accept: application/nostr+json).\n')
}
const server = tls
  ? createHttpsServer({ cert: readFileSync(args.tlsCert), key: readFileSync(args.tlsKey) }, handleHttp)
  : createHttpServer(handleHttp)

let gateOpen = !args.gated
if (args.gated) {
  createInterface({ input: process.stdin }).on('line', line => {
    if (line.trim() === 'open') {
      gateOpen = true
      console.log('gate: open')
    }
  })
}

const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20 })
server.on('upgrade', (req, socket, head) => {
  const path = new URL(req.url, 'http://x').pathname
  if (!gateOpen && path !== '/side') {
    socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
    console.log('gate: refused a connection')
    return
  }
  wss.handleUpgrade(req, socket, head, ws => wss.emit('connection', ws, req))
})

wss.on('connection', (ws, req) => {
  relay.handleConnection(ws, req.socket.remoteAddress)
  console.error(`connection from ${req.socket.remoteAddress}:${req.socket.remotePort} ${req.url}`)
  ws.on('message', async data => {
    let message
    try {
      message = JSON.parse(data.toString('utf8'))
    } catch {
      ws.send(JSON.stringify(['NOTICE', 'invalid: message is not JSON']))
      return
    }
    if (!Array.isArray(message) || typeof message[0] !== 'string') {
      ws.send(JSON.stringify(['NOTICE', 'invalid: message is not a JSON array']))
      return
    }
    if (args.logReq && message[0] === 'REQ') console.log(`req: ${JSON.stringify(message)}`)
    try {
      await relay.handleMessage(ws, message)
    } catch (e) {
      ws.send(JSON.stringify(['NOTICE', `error: ${e.message}`]))
    }
  })
  ws.on('close', () => relay.handleDisconnect(ws))
  ws.on('error', () => relay.handleDisconnect(ws))
})

server.listen(args.port, HOST, () => {
  const { port } = server.address()
  console.log(`relay: ${tls ? 'wss' : 'ws'}://${HOST}:${port}`)
})

async function stop() {
  for (const ws of wss.clients) ws.terminate()
  server.close()
  await relay.destroy()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
