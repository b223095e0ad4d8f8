// A relay that says exactly what a test tells it to: a test double for the relay pool's
// defences (forged events, oversized messages, events outside the filter, dead connections),
// which a real relay would never produce on purpose.
//
//   node scripted_relay.mjs --script FILE [--port N] [--no-pong]
//
// FILE is JSON: { "on_req": [frame, ...], "ok": true|false|null, "ok_message": "..." }.
// Every REQ is answered with the `on_req` frames in order, each a JSON value (sent as its
// JSON text) or a string (sent verbatim, after replacing $SUB with the subscription id).
// EVENT is answered with OK `ok` (null: no answer at all). --no-pong stops answering pings,
// so the connection looks dead. Prints `relay: ws://127.0.0.1:PORT` when listening and
// `recv: <message>` on stdout for each message received.
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

let WebSocketServer
try {
  ;({ WebSocketServer } = await import('ws'))
} catch (e) {
  console.error(`scripted_relay: cannot load ws (${e.message}); run scripts/setup.`)
  process.exit(1)
}

const args = { port: 0, script: null, noPong: false }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--port') args.port = Number(argv[++i])
  else if (argv[i] === '--script') args.script = argv[++i]
  else if (argv[i] === '--no-pong') args.noPong = true
  else {
    console.error(`usage: node scripted_relay.mjs --script FILE [--port N] [--no-pong]; unknown ${argv[i]}`)
    process.exit(2)
  }
}
if (!args.script) {
  console.error('scripted_relay: --script is required')
  process.exit(2)
}
const script = JSON.parse(readFileSync(args.script, 'utf8'))

const server = createServer((req, res) => {
  res.writeHead(404)
  res.end()
})
const wss = new WebSocketServer({ server, autoPong: !args.noPong, maxPayload: 64 << 20 })
wss.on('connection', ws => {
  ws.on('message', data => {
    const text = data.toString('utf8')
    console.log(`recv: ${text}`)
    let message
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    if (message[0] === 'REQ') {
      for (const frame of script.on_req ?? []) {
        const out = typeof frame === 'string' ? frame.replaceAll('$SUB', message[1]) : JSON.stringify(frame)
        ws.send(out)
      }
    } else if (message[0] === 'EVENT' && script.ok !== null && script.ok !== undefined) {
      ws.send(JSON.stringify(['OK', message[1].id, script.ok, script.ok_message ?? '']))
    }
  })
})
server.listen(args.port, '127.0.0.1', () => {
  console.log(`relay: ws://127.0.0.1:${server.address().port}`)
})
process.on('SIGTERM', () => process.exit(0))
