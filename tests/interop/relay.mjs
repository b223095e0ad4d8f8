// nostr-tools (with ws) as a client of `fedai relay`: the embedded relay started as a real
// subprocess, on a free port, with a fresh LMDB directory.
//
//   --direction nostr_tools_to_fedai: publish/OK, stored REQ/EOSE, live delivery,
//     replaceable/addressable replacement, ephemeral events fanned out but not stored, NIP-40
//     expiration, bad id and bad signature refused, COUNT, NIP-11; then SIGTERM must stop the
//     relay cleanly (exit status 0).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { nt, setName, fail, check, parseArgs, Rng } from './lib.mjs'

let Relay, WebSocket
try {
  ;({ Relay, useWebSocketImplementation: WebSocket } = await import('nostr-tools/relay'))
  const ws = await import('ws')
  WebSocket(ws.WebSocket)
} catch (e) {
  console.error(`FAIL relay: cannot load nostr-tools/relay or ws (${e.message}).`)
  console.error('Run scripts/setup, which runs `npm ci` in tests/interop.')
  process.exit(1)
}
const { finalizeEvent, getPublicKey, verifyEvent } = nt.pure

const args = parseArgs(['nostr_tools_to_fedai'], { seed: 1, count: 20 })
setName(`relay_${args.direction}`)
const rng = new Rng(args.seed)
const alice = rng.secretKey()
const bob = rng.secretKey()
const now = () => Math.floor(Date.now() / 1000)

// ---- the relay process -----------------------------------------------------------------------

const dbDir = mkdtempSync(join(tmpdir(), 'fedai-relay-interop-'))
const relayArgs = ['relay', '--listen', '127.0.0.1:0', '--db', dbDir, '--log-level', 'warn', '--purge-interval', '1']
const child = spawn(args.fedai, relayArgs, { stdio: ['ignore', 'pipe', 'pipe'] })
let stderr = ''
child.stderr.on('data', (d) => (stderr += d))
let exited = null
const exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))))
function cleanup() {
  if (!exited) child.kill('SIGKILL')
  rmSync(dbDir, { recursive: true, force: true })
}
process.on('exit', cleanup)
const die = (message, details = {}) => fail(message, { ...details, 'relay stderr': stderr })

const url = await withTimeout(
  new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout })
    lines.on('line', (line) => {
      const m = /^relay: (ws:\/\/\S+)$/.exec(line)
      if (m) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`fedai relay exited with ${code} before listening`)))
  }),
  10000,
  'the "relay: ws://..." line',
)

// ---- helpers -----------------------------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ])
    .catch((e) => die(e.message))
    .finally(() => clearTimeout(timer))
}

function sign(sk, kind, content, tags = [], createdAt = now()) {
  return finalizeEvent({ kind, created_at: createdAt, tags, content }, sk)
}

async function connect() {
  return withTimeout(Relay.connect(url), 5000, `a connection to ${url}`)
}

// Publishes; returns { ok, reason } instead of throwing.
async function publish(relay, event) {
  return withTimeout(
    relay.publish(event).then(
      (reason) => ({ ok: true, reason }),
      (err) => ({ ok: false, reason: err.message }),
    ),
    5000,
    `OK for ${event.id}`,
  )
}

async function accepted(relay, event, what) {
  const r = await publish(relay, event)
  check(r.ok, `${what}: relay refused a valid event`, { reason: r.reason, event })
}

// Stored events for `filters`, in the order the relay sent them, up to EOSE.
async function query(relay, filters) {
  const events = []
  await withTimeout(
    new Promise((resolve, reject) => {
      const sub = relay.subscribe(filters, {
        onevent: (e) => events.push(e),
        oneose: () => {
          resolve()
          sub.close()
        },
        onclose: (reason) => reject(new Error(`subscription closed: ${reason}`)),
      })
    }),
    5000,
    `EOSE for ${JSON.stringify(filters)}`,
  )
  return events
}

const stringify = (e) =>
  JSON.stringify({ id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig })

// ---- the checks --------------------------------------------------------------------------------

const pub = await connect()
const sub = await connect()

// publish / OK, stored REQ / EOSE
{
  const events = []
  const base = now() - 1000
  for (let i = 0; i < args.count; i++) events.push(sign(alice, 1, `note ${i} ${rng.hex32()}`, [['t', 'interop']], base + i))
  for (const e of events) await accepted(pub, e, 'publish')
  const got = await query(sub, [{ kinds: [1], authors: [getPublicKey(alice)], '#t': ['interop'] }])
  check(got.length === events.length, `REQ returned ${got.length} events, expected ${events.length}`)
  const want = [...events].sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))
  for (let i = 0; i < want.length; i++) {
    check(got[i].id === want[i].id, `REQ event ${i} is out of NIP-01 order`, { got: got[i].id, want: want[i].id })
    check(verifyEvent(got[i]), `REQ event ${i} does not verify`, { event: got[i] })
    check(stringify(got[i]) === stringify(want[i]), `REQ event ${i} changed in the store`, { got: got[i], want: want[i] })
  }
  const limited = await query(sub, [{ kinds: [1], '#t': ['interop'], limit: 3 }])
  check(limited.length === 3 && limited[0].id === want[0].id, 'REQ with limit 3 is not the 3 newest', { limited })
  const count = await withTimeout(sub.count([{ kinds: [1], '#t': ['interop'] }], {}), 5000, 'COUNT')
  check(count === events.length, `COUNT said ${count}, expected ${events.length}`)
}

// live delivery after EOSE
{
  const live = []
  let eose = false
  const arrived = new Promise((resolve) => {
    const s = sub.subscribe([{ kinds: [1], '#t': ['live'] }], {
      oneose: () => (eose = true),
      onevent: (e) => {
        check(eose, 'a live event arrived before EOSE')
        live.push(e)
        resolve(s)
      },
    })
  })
  // Wait for EOSE: publish only once the subscription is known to be live.
  await withTimeout(
    new Promise((resolve) => {
      const poll = () => (eose ? resolve() : setTimeout(poll, 5))
      poll()
    }),
    5000,
    'EOSE of the live subscription',
  )
  const e = sign(bob, 1, 'live one', [['t', 'live']])
  await accepted(pub, e, 'live publish')
  const s = await withTimeout(arrived, 5000, 'the live event')
  s.close()
  check(live[0].id === e.id && verifyEvent(live[0]), 'the live event is not the published one', { got: live[0], want: e })
}

// replaceable and addressable events
{
  const t = now()
  const p1 = sign(alice, 0, '{"name":"one"}', [], t - 20)
  const p2 = sign(alice, 0, '{"name":"two"}', [], t - 10)
  await accepted(pub, p1, 'kind 0 v1')
  await accepted(pub, p2, 'kind 0 v2')
  const stale = await publish(pub, sign(alice, 0, '{"name":"zero"}', [], t - 30))
  check(!stale.ok && stale.reason.startsWith('duplicate:'), 'an older kind 0 was not refused as duplicate', stale)
  const profiles = await query(sub, [{ kinds: [0], authors: [getPublicKey(alice)] }])
  check(profiles.length === 1 && profiles[0].id === p2.id, 'kind 0 was not replaced by the newer one', { profiles })

  const x1 = sign(alice, 36090, 'caps v1', [['d', 'node-x']], t - 20)
  const x2 = sign(alice, 36090, 'caps v2', [['d', 'node-x']], t - 10)
  const y = sign(alice, 36090, 'caps y', [['d', 'node-y']], t - 15)
  for (const e of [x1, x2, y]) await accepted(pub, e, 'kind 36090')
  const caps = await query(sub, [{ kinds: [36090], authors: [getPublicKey(alice)] }])
  check(caps.length === 2 && caps[0].id === x2.id && caps[1].id === y.id, 'addressable events were not replaced per d tag', {
    caps: caps.map((e) => e.id),
    want: [x2.id, y.id],
  })
}

// ephemeral: fanned out live, never stored
{
  let eose = false
  let got = null
  const arrived = new Promise((resolve) => {
    sub.subscribe([{ kinds: [26090], since: now() - 5 }], {
      oneose: () => (eose = true),
      onevent: (e) => resolve((got = e)),
    })
  })
  await withTimeout(
    new Promise((resolve) => {
      const poll = () => (eose ? resolve() : setTimeout(poll, 5))
      poll()
    }),
    5000,
    'EOSE of the ephemeral subscription',
  )
  const rfb = sign(bob, 26090, 'request for bids', [['expiration', String(now() + 60)]])
  await accepted(pub, rfb, 'ephemeral publish')
  await withTimeout(arrived, 5000, 'the ephemeral event')
  check(got.id === rfb.id, 'the ephemeral event delivered is not the published one')
  const dup = await publish(pub, rfb)
  check(!dup.ok && dup.reason.startsWith('duplicate:'), 'a repeated ephemeral event was not refused as duplicate', dup)
  const stored = await query(pub, [{ kinds: [26090] }])
  check(stored.length === 0, 'an ephemeral event was stored', { stored })
}

// NIP-40 expiration
{
  const past = await publish(pub, sign(alice, 1, 'expired', [['expiration', String(now() - 1)]]))
  check(!past.ok && past.reason === 'invalid: event has expired', 'an expired event was not refused', past)
  const soon = sign(alice, 1, 'expiring', [['expiration', String(now() + 2)], ['t', 'expiring']])
  await accepted(pub, soon, 'an event expiring in 2 s')
  const before = await query(sub, [{ '#t': ['expiring'] }])
  check(before.length === 1, 'an unexpired event was not served')
  // Once its time has passed the relay never serves it (and purges it): poll, bounded.
  const deadline = Date.now() + 8000
  for (;;) {
    const after = await query(sub, [{ '#t': ['expiring'] }])
    if (after.length === 0) break
    if (Date.now() > deadline) die('an expired event is still served 8 s after its expiration')
    await new Promise((r) => setTimeout(r, 250))
  }
}

// bad id and bad signature
{
  const badId = sign(alice, 1, 'original')
  badId.content = 'tampered'
  const r1 = await publish(pub, badId)
  check(!r1.ok && r1.reason.startsWith('invalid:'), 'an event with a wrong id was not refused with invalid:', r1)
  const badSig = sign(alice, 1, 'signed')
  badSig.sig = (badSig.sig[0] === '0' ? '1' : '0') + badSig.sig.slice(1)
  const r2 = await publish(pub, badSig)
  check(!r2.ok && r2.reason === 'invalid: bad signature', 'an event with a bad signature was not refused', r2)
  const none = await query(sub, [{ ids: [badId.id, badSig.id] }])
  check(none.length === 0, 'a refused event was stored', { none })
}

// NIP-11
{
  const httpUrl = url.replace(/^ws/, 'http')
  const res = await withTimeout(fetch(httpUrl, { headers: { Accept: 'application/nostr+json' } }), 5000, 'NIP-11')
  check(res.status === 200, `NIP-11 status ${res.status}`)
  check(res.headers.get('access-control-allow-origin') === '*', 'NIP-11 has no CORS header')
  const doc = await res.json()
  for (const nip of [1, 11, 40, 42]) check(doc.supported_nips.includes(nip), `NIP-11 does not list NIP-${nip}`, { doc })
  check(Number.isInteger(doc.limitation?.max_message_length), 'NIP-11 has no limitation block', { doc })
}

pub.close()
sub.close()

// Clean shutdown on SIGTERM.
child.kill('SIGTERM')
const status = await withTimeout(exitPromise, 10000, 'fedai relay to exit after SIGTERM')
check(status.code === 0, `fedai relay exited with ${JSON.stringify(status)} after SIGTERM`, { stderr })
console.log(`ok relay_${args.direction}: ${args.count} events and every check passed against ${url}`)
process.exit(0)
