// Load generator for `fedai relay`, in the setup of the strfry anchor (issue 3): Node.js + ws on
// the same machine, 8 publisher connections with 256 events in flight each, 50,000 pre-signed
// kind-1 events of ~400 bytes, one live subscriber.
//
//   node tests/bench/relay_load.mjs [--fedai build/fedai] [--events 50000] [--conns 8]
//        [--inflight 256] [--latency 2000] [--db-sync true] [--flood-subs 4] [--no-flood]
//        [--no-cork] [--repeat 3] [--json FILE] [-- EXTRA RELAY FLAGS]
//
// Phases, each on a relay this script starts (127.0.0.1, port 0, fresh temp --db, per-connection
// message rate limit off):
//   1. ingest: EVENT -> OK with the publishers, counted by a live subscriber (fan-out); run
//      --repeat times, each on a fresh relay, and the median run reported (the machine is shared);
//   2. latency: single events sent one at a time, time from send to the subscriber's receipt,
//      stored kind 1 and ephemeral kind 20001 (and stored kind 1 on a relay with --db-sync false);
//   3. flood (a second, fresh relay): a subscriber stops reading while the publishers flood;
//      the relay's slow-reader cutoff (--max-pending-bytes) must keep its RSS bounded; then the
//      same flood with the cutoff out of reach, as a control.
// Exits 1 when the relay got something wrong (an event refused or not fanned out, no cutoff);
// missing a performance goal is reported, not an error.
// Prints one JSON object per phase on stdout (lines starting with '{'), then a human summary.
// The events are signed up front by `fedai event sign` (one process per key, in parallel).
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const WebSocket = require('../interop/node_modules/ws')

// ---- arguments ------------------------------------------------------------------------------

const argv = process.argv.slice(2)
const dash = argv.indexOf('--')
const relayExtra = dash >= 0 ? argv.slice(dash + 1) : []
const args = dash >= 0 ? argv.slice(0, dash) : argv
const opt = (name, dflt) => {
  const i = args.indexOf('--' + name)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt
}
const flag = (name) => args.includes('--' + name)
const FEDAI = resolve(opt('fedai', join(here, '../../build/fedai')))
const N = Number(opt('events', 50000))
const CONNS = Number(opt('conns', 8))
const INFLIGHT = Number(opt('inflight', 256))
const LAT_N = Number(opt('latency', 2000))
const DB_SYNC = opt('db-sync', 'true')
const FLOOD_SUBS = Number(opt('flood-subs', 4))
const FLOOD = !flag('no-flood')
const CORK = !flag('no-cork')
const REPEAT = Math.max(1, Number(opt('repeat', 3)))
const JSON_OUT = opt('json', '')
const KEYS = 8
const STRFRY_ACCEPTED = 13600
const STRFRY_FANOUT = 12700
const GOAL = 1.5 * STRFRY_ACCEPTED

const emit = (obj) => {
  const line = JSON.stringify(obj)
  console.log(line)
  if (JSON_OUT) appendFileSync(JSON_OUT, line + '\n')
}
const die = (msg) => {
  console.error('relay_load: ' + msg)
  process.exit(1)
}

// ---- events ---------------------------------------------------------------------------------

// Kind-1 templates of ~400 bytes once signed, with varied tags (t, p, e, subject). The signed
// JSON is 340 bytes plus the tags and content; content pads each event to ~400 (those carrying
// 64-hex p/e tags come out somewhat larger).
function template(i, kind, createdAt) {
  const hex = (n) => n.toString(16).padStart(8, '0').repeat(8)
  const tags = [['t', 'bench']]
  switch (i % 4) {
    case 0: tags.push(['p', hex(i)]); break
    case 1: tags.push(['t', 'topic' + (i % 50)], ['subject', 'load ' + i]); break
    case 2: tags.push(['e', hex(i + 7)]); break
    default: tags.push(['t', 'topic' + (i % 7)]); break
  }
  const head = `bench event ${i} `
  const pad = Math.max(0, 400 - 340 - JSON.stringify(tags).length - head.length)
  return JSON.stringify({ kind, created_at: createdAt, tags, content: head + 'x'.repeat(pad) })
}

function signAll(templates, key) {
  return new Promise((ok, fail) => {
    const p = spawn(FEDAI, ['event', 'sign', '--key', key], { stdio: ['pipe', 'pipe', 'inherit'] })
    const chunks = []
    p.stdout.on('data', (d) => chunks.push(d))
    p.on('error', fail)
    p.on('close', (code) => {
      if (code !== 0) return fail(new Error(`fedai event sign exited ${code}`))
      ok(Buffer.concat(chunks).toString('utf8').trim().split('\n'))
    })
    p.stdin.end(templates.join('\n') + '\n')
  })
}

// `count` events of `kind`, spread over KEYS authors; created_at in the past, one second apart.
async function makeEvents(count, kind, first) {
  const now = Math.floor(Date.now() / 1000)
  const byKey = Array.from({ length: KEYS }, () => [])
  for (let i = 0; i < count; ++i) {
    const n = first + i
    byKey[i % KEYS].push(template(n, kind, now - 200000 + n))
  }
  const keys = Array.from({ length: KEYS }, () => randomBytes(32).toString('hex'))
  const signed = await Promise.all(byKey.map((t, k) => signAll(t, keys[k])))
  const out = []
  for (let i = 0; i < count; ++i) out.push(signed[i % KEYS][Math.floor(i / KEYS)])
  return out
}

// ---- the relay ------------------------------------------------------------------------------

// Relays still running when this script exits (an error, a failed phase) are killed with it.
const running = new Set()
process.on('exit', () => {
  for (const proc of running) proc.kill('SIGKILL')
})

async function startRelay(tag, more = []) {
  const db = mkdtempSync(join(tmpdir(), `fedai-relay-load-${tag}-`))
  const flags = ['relay', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--db', db,
    ...(more.some((f) => f.startsWith('--db-sync')) ? [] : ['--db-sync=' + DB_SYNC]),
    '--messages-per-second', '0', '--log-level', 'warn', ...relayExtra, ...more]
  const proc = spawn(FEDAI, flags, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(proc)
  proc.on('exit', () => running.delete(proc))
  // The relay's warnings pass through; its slow-reader cut-offs are counted.
  const relay = { proc, db, slowCutOffs: 0 }
  let errBuf = ''
  proc.stderr.on('data', (d) => {
    errBuf += d
    let nl
    while ((nl = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, nl)
      errBuf = errBuf.slice(nl + 1)
      if (line.includes('slow reader')) ++relay.slowCutOffs
      else process.stderr.write('relay: ' + line + '\n')
    }
  })
  const [url, metricsUrl] = await new Promise((ok, fail) => {
    let buf = ''
    proc.on('exit', (code) => fail(new Error(`fedai relay exited ${code} before listening`)))
    proc.stdout.on('data', (d) => {
      buf += d
      const m = buf.match(/relay: (ws:\/\/\S+)\n/)
      const mm = buf.match(/metrics: (http:\/\/\S+)\n/)
      if (m && mm) ok([m[1], mm[1]])
    })
  })
  const stop = () => new Promise((ok) => {
    if (proc.exitCode !== null) return ok()
    proc.on('exit', () => { rmSync(db, { recursive: true, force: true }); ok() })
    proc.kill('SIGTERM')
  })
  return Object.assign(relay, { url, metricsUrl, stop, flags: flags.slice(1).join(' ') })
}

// VmRSS, RssAnon, VmHWM of a process, in MiB.
function memory(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [0, 0])[1])
  const mib = (k) => Math.round(k / 102.4) / 10
  return { rss_mib: mib(kb('VmRSS')), anon_mib: mib(kb('RssAnon')), hwm_mib: mib(kb('VmHWM')) }
}
// Context switches of every thread of a process.
function contextSwitches(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const n = (name) => Number((text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm')) || [0, 0])[1])
  return n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches')
}
// Sums of some Prometheus series (by name prefix, any labels).
async function metric(url, names) {
  const text = await (await fetch(url)).text()
  const out = {}
  for (const name of names) {
    out[name] = 0
    for (const line of text.split('\n'))
      if (line.startsWith(name + ' ') || line.startsWith(name + '{')) out[name] += Number(line.split(' ').pop())
  }
  return out
}
function threadSwitches(pid) {
  let n = 0
  for (const t of readdirSync(`/proc/${pid}/task`)) n += contextSwitches(`${pid}/task/${t}`)
  return n
}
// Bytes the process caused to be written to storage.
function writeBytes(pid) {
  const m = readFileSync(`/proc/${pid}/io`, 'utf8').match(/^write_bytes:\s+(\d+)/m)
  return m ? Number(m[1]) : 0
}
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100  // utime + stime, in clock ticks of 1/100 s
}

// ---- WebSocket helpers ----------------------------------------------------------------------

const connect = (url) => new Promise((ok, fail) => {
  const ws = new WebSocket(url, { perMessageDeflate: false })
  ws.once('open', () => ok(ws))
  ws.once('error', fail)
})
// A message's first bytes, without decoding it: '["OK","<64 hex>",true' has 't' at 73.
const isOk = (d) => d[2] === 0x4f && d[3] === 0x4b
const okAccepted = (d) => d[73] === 0x74
const isEvent = (d) => d[2] === 0x45 && d[3] === 0x56
const isEose = (d) => d[2] === 0x45 && d[3] === 0x4f

// Opens a subscription; resolves at its EOSE.
function subscribe(ws, sub, filter) {
  return new Promise((ok) => {
    const onMsg = (d) => {
      if (isEose(d) && d.toString().startsWith(`["EOSE","${sub}"`)) {
        ws.off('message', onMsg)
        ok()
      }
    }
    ws.on('message', onMsg)
    ws.send(JSON.stringify(['REQ', sub, filter]))
  })
}

// The publishers: `conns` connections share the event list, each keeping `inflight` EVENTs
// unanswered. Resolves when every event has its OK.
async function publish(url, events, conns, inflight, onOk) {
  const sockets = await Promise.all(Array.from({ length: conns }, () => connect(url)))
  let next = 0, ok = 0, refused = 0
  const reasons = {}
  const t0 = performance.now()
  let tLast = t0
  await Promise.all(sockets.map((ws) => new Promise((done) => {
    let pending = 0
    const pump = () => {
      while (pending < inflight && next < events.length) {
        ws.send('["EVENT",' + events[next++] + ']')
        ++pending
      }
      if (pending === 0 && next >= events.length) done()
    }
    // EVENTs sent while handling one read from the socket leave in one write (--no-cork: one
    // write each).
    let corked = false
    const uncork = () => {
      corked = false
      ws._socket.uncork()
    }
    ws.on('message', (d) => {
      if (!isOk(d)) return
      if (CORK && !corked) {
        corked = true
        ws._socket.cork()
        process.nextTick(uncork)
      }
      --pending
      if (okAccepted(d)) ++ok
      else {
        ++refused
        const r = JSON.parse(d.toString())[3].split(':')[0]
        reasons[r] = (reasons[r] || 0) + 1
      }
      tLast = performance.now()
      if (onOk) onOk()
      pump()
    })
    ws.on('close', () => done())
    pump()
  })))
  for (const ws of sockets) ws.close()
  return { ok, refused, reasons, t0, seconds: (tLast - t0) / 1000 }
}

// ---- phase 1: ingest with a live subscriber -------------------------------------------------

async function ingestPhase(relay, events) {
  const sub = await connect(relay.url)
  await subscribe(sub, 'live', { kinds: [1], '#t': ['bench'], limit: 0 })
  let received = 0, tLastRx = 0
  const allIn = new Promise((ok) => sub.on('message', (d) => {
    if (!isEvent(d)) return
    tLastRx = performance.now()
    if (++received === events.length) ok()
  }))
  const cpu0 = cpuSeconds(relay.proc.pid)
  const cs0 = threadSwitches(relay.proc.pid)
  const wb0 = writeBytes(relay.proc.pid)
  const own0 = process.cpuUsage()
  const r = await publish(relay.url, events, CONNS, INFLIGHT)
  const own = process.cpuUsage(own0)
  const timeout = new Promise((ok) => setTimeout(ok, 10000))
  await Promise.race([allIn, timeout])
  const cpu = cpuSeconds(relay.proc.pid) - cpu0
  const switches = threadSwitches(relay.proc.pid) - cs0
  const written = writeBytes(relay.proc.pid) - wb0
  const m = await metric(relay.metricsUrl, ['fedai_relay_write_batch_size_sum', 'fedai_relay_write_batch_size_count', 'fedai_relay_write_seconds_sum'])
  const batches = m.fedai_relay_write_batch_size_count
  const fanSeconds = (tLastRx - r.t0) / 1000
  const accepted = r.ok / r.seconds
  const fanned = received / fanSeconds
  sub.close()
  const out = {
    bench: 'relay_ingest', events: events.length, bytes_avg: Math.round(events.reduce((n, e) => n + e.length, 0) / events.length),
    conns: CONNS, inflight: INFLIGHT, cork: CORK, db_sync: DB_SYNC === 'true', accepted: r.ok, refused: r.refused, reasons: r.reasons,
    seconds: +r.seconds.toFixed(3), accepted_per_s: Math.round(accepted),
    fanned_out: received, fanout_seconds: +fanSeconds.toFixed(3), fanout_per_s: Math.round(fanned),
    relay_cpu_s: +cpu.toFixed(2), relay_cpu_us_per_event: Math.round(cpu * 1e6 / events.length),
    loadgen_cpu_us_per_event: Math.round((own.user + own.system) / events.length),
    relay_context_switches_per_event: +(switches / events.length).toFixed(2),
    write_batches: batches, write_batch_mean: Math.round(m.fedai_relay_write_batch_size_sum / batches),
    disk_write_kib_per_event: +(written / 1024 / events.length).toFixed(1),
    write_commit_ms_mean: +((m.fedai_relay_write_seconds_sum * 1000) / batches).toFixed(2),
    ratio_to_strfry: +(accepted / STRFRY_ACCEPTED).toFixed(3), ratio_to_goal: +(accepted / GOAL).toFixed(3),
    fanout_ratio_to_strfry: +(fanned / STRFRY_FANOUT).toFixed(3), relay_memory: memory(relay.proc.pid),
  }
  emit(out)
  return out
}

// ---- phase 2: fan-out latency, one event at a time ------------------------------------------

// Back to back (the default): the next event leaves as soon as the subscriber has the previous
// one, so a stored event may wait for the previous batch's fsync. With waitOk, the publisher also
// waits for the previous event's OK: isolated single events, each on an idle relay.
async function latencyPhase(relay, events, label, { waitOk = false } = {}) {
  const pub = await connect(relay.url)
  const sub = await connect(relay.url)
  await subscribe(sub, 'lat', { kinds: [1, 20001], '#t': ['bench'], limit: 0 })
  let waiting = null
  sub.on('message', (d) => {
    if (waiting && isEvent(d)) waiting(d.toString())
  })
  let okWaiting = null
  pub.on('message', (d) => {
    if (okWaiting) okWaiting(d.toString())
  })
  const lat = []
  for (const line of events) {
    const id = line.slice(7, 71)  // {"id":"<64 hex>"
    let t0
    const acked = waitOk
      ? new Promise((ok) => {
          okWaiting = (text) => {
            if (text.startsWith('["OK"') && text.includes(id)) ok()
          }
        })
      : null
    await new Promise((ok) => {
      waiting = (text) => {
        if (text.includes(id)) {
          lat.push(performance.now() - t0)
          ok()
        }
      }
      t0 = performance.now()
      pub.send('["EVENT",' + line + ']')
    })
    if (acked) await acked
  }
  pub.close()
  sub.close()
  lat.sort((a, b) => a - b)
  const q = (p) => +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(3)
  const out = { bench: 'relay_fanout_latency', kind: label, n: lat.length, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: +lat[lat.length - 1].toFixed(3) }
  emit(out)
  return out
}

// ---- phase 3: memory under a flood with a subscriber that stops reading ---------------------

// `cap`: --max-pending-bytes for this run ('' for the relay's default).
async function floodPhase(events, cap) {
  const relay = await startRelay('flood', cap ? ['--max-pending-bytes', cap] : [])
  const pid = relay.proc.pid
  const idle = memory(pid)
  // A reading subscriber (its traffic must keep flowing) and a slow one with FLOOD_SUBS live
  // subscriptions that stops reading from its socket once subscribed.
  const reader = await connect(relay.url)
  await subscribe(reader, 'r', { kinds: [1], limit: 0 })
  let readerGot = 0
  const readerAll = new Promise((ok) => reader.on('message', (d) => {
    if (isEvent(d) && ++readerGot === events.length) ok()
  }))
  const slow = await connect(relay.url)
  for (let s = 0; s < FLOOD_SUBS; ++s) await subscribe(slow, 's' + s, { kinds: [1], limit: 0 })
  let slowGot = 0, slowClosed = false, slowCloseCode = 0
  slow.on('message', (d) => { if (isEvent(d)) ++slowGot })
  const slowClose = new Promise((ok) => slow.on('close', (code) => { slowClosed = true; slowCloseCode = code; ok() }))
  slow.on('error', () => {})
  slow._socket.pause()  // stop reading: the kernel buffers fill, then the relay's outbound queue
  const before = memory(pid)

  let peak = before.rss_mib, peakAnon = before.anon_mib
  const sample = () => {
    const m = memory(pid)
    peak = Math.max(peak, m.rss_mib)
    peakAnon = Math.max(peakAnon, m.anon_mib)
  }
  const timer = setInterval(sample, 20)
  const t0 = performance.now()
  const r = await publish(relay.url, events, CONNS, INFLIGHT, null)
  await Promise.race([readerAll, new Promise((ok) => setTimeout(ok, 10000))])
  const seconds = (performance.now() - t0) / 1000
  clearInterval(timer)
  sample()
  const during = { rss_peak_mib: peak, anon_peak_mib: peakAnon }
  // Read again: a cut-off connection now sees its close; a buffered one would drain.
  slow._socket.resume()
  await Promise.race([slowClose, new Promise((ok) => setTimeout(ok, 3000))])
  const cutOff = slowClosed && relay.slowCutOffs > 0
  reader.close()
  if (!slowClosed) slow.terminate()
  const after = memory(pid)
  await relay.stop()
  const bytesPerEvent = events.reduce((n, e) => n + e.length, 0) / events.length + 20
  const out = {
    bench: cap ? 'relay_flood_memory_control' : 'relay_flood_memory', max_pending_bytes: cap || 'default',
    events: events.length, slow_subscriptions: FLOOD_SUBS,
    bytes_owed_to_slow_reader_mib: +((events.length * FLOOD_SUBS * bytesPerEvent) / 1048576).toFixed(1),
    accepted: r.ok, accepted_per_s: Math.round(r.ok / seconds), reader_received: readerGot,
    slow_reader_received: slowGot, slow_reader_cut_off: cutOff, relay_slow_reader_cutoffs: relay.slowCutOffs, slow_reader_close_code: slowCloseCode,
    rss_idle: idle, rss_before: before, rss_during: during, rss_after: after,
  }
  emit(out)
  return out
}

// ---- main -----------------------------------------------------------------------------------

const tSign = performance.now()
const events = await makeEvents(N, 1, 0)
const latStored = await makeEvents(LAT_N, 1, N)
const latEphemeral = await makeEvents(LAT_N, 20001, N + LAT_N)
const latSingle = await makeEvents(LAT_N, 1, N + 2 * LAT_N)
const signSeconds = (performance.now() - tSign) / 1000
if (events.length !== N) die(`signed ${events.length} events, wanted ${N}`)

let relay, ingest
const runs = []
for (let i = 0; i < REPEAT; ++i) {
  if (relay) await relay.stop()
  relay = await startRelay('ingest')
  runs.push(await ingestPhase(relay, events))
}
{
  const byRate = [...runs].sort((a, b) => a.accepted_per_s - b.accepted_per_s)
  ingest = byRate[Math.floor((byRate.length - 1) / 2)]
  const rates = runs.map((r) => r.accepted_per_s)
  ingest.runs = rates
  emit({ bench: 'relay_ingest_median', runs: rates, accepted_per_s: ingest.accepted_per_s, fanout_per_s: ingest.fanout_per_s, ratio_to_strfry: ingest.ratio_to_strfry, ratio_to_goal: ingest.ratio_to_goal })
}
const latS = await latencyPhase(relay, latStored, 'stored kind 1')
const latE = await latencyPhase(relay, latEphemeral, 'ephemeral kind 20001')
const latIso = await latencyPhase(relay, latSingle, 'stored kind 1, single events (each after the previous OK)', { waitOk: true })
const mem = memory(relay.proc.pid)
emit({ bench: 'relay_memory_after_ingest', ...mem })
await relay.stop()
// Stored events wait for the commit's fsync before fan-out; the same phase without it shows what
// the relay itself adds.
let latNoSync = null
if (DB_SYNC === 'true') {
  const r = await startRelay('nosync', ['--db-sync=false'])
  latNoSync = await latencyPhase(r, latStored, 'stored kind 1, --db-sync false')
  await r.stop()
}
const flood = FLOOD ? await floodPhase(events, '') : null
// The control: the same flood with the cutoff out of reach (16 GiB), so the relay buffers it all.
const control = FLOOD ? await floodPhase(events, String(2 ** 34)) : null

const p = (x) => x.toLocaleString('en-US')
console.log(`
fedai relay load (${N} events of ~${ingest.bytes_avg} bytes, ${CONNS} connections x ${INFLIGHT} in flight, db-sync ${DB_SYNC}; signed in ${signSeconds.toFixed(1)} s)
  relay: ${FEDAI} ${relay.flags}
  ingest:   ${p(ingest.accepted_per_s)} events/s accepted (${REPEAT > 1 ? `median of ${REPEAT} runs: ${ingest.runs.map(p).join(', ')}` : `${ingest.seconds} s`}); ${ingest.ratio_to_strfry}x strfry's ${p(STRFRY_ACCEPTED)}, ${ingest.ratio_to_goal}x the goal of ${p(GOAL)} -> ${ingest.accepted_per_s >= GOAL ? 'MET' : 'MISSED'}
            CPU per event: relay ${ingest.relay_cpu_us_per_event} us, this load generator ${ingest.loadgen_cpu_us_per_event} us (2 cores: ${Math.round(2e6 / (ingest.relay_cpu_us_per_event + ingest.loadgen_cpu_us_per_event))}/s if nothing else runs)
            ${ingest.write_batches} write batches of ${ingest.write_batch_mean} events on average, ${ingest.write_commit_ms_mean} ms each, ${ingest.disk_write_kib_per_event} KiB written to disk per event; relay context switches ${ingest.relay_context_switches_per_event} per event
  fan-out:  ${p(ingest.fanout_per_s)} events/s to one live subscriber (${ingest.fanned_out} received); ${ingest.fanout_ratio_to_strfry}x strfry's ${p(STRFRY_FANOUT)}
  latency:  stored kind 1: p50 ${latS.p50_ms} ms, p99 ${latS.p99_ms} ms (max ${latS.max_ms}); ephemeral: p50 ${latE.p50_ms} ms, p99 ${latE.p99_ms} ms (goal p50 < 1 ms, p99 < 5 ms)
            stored kind 1 back to back waits for the previous batch's fsync; single events (each sent after the previous OK): p50 ${latIso.p50_ms} ms, p99 ${latIso.p99_ms} ms${latNoSync ? `
            stored kind 1 with --db-sync false: p50 ${latNoSync.p50_ms} ms, p99 ${latNoSync.p99_ms} ms (the rest is the commit's fsync)` : ''}
  memory:   after ingest RSS ${mem.rss_mib} MiB (heap ${mem.anon_mib}, the rest LMDB's mapped file), peak ${mem.hwm_mib} MiB`)
if (flood) {
  const f = flood, c = control
  console.log(`  flood:    ${f.events} events at ${p(f.accepted_per_s)}/s while a subscriber with ${FLOOD_SUBS} live subscriptions stops reading (${f.bytes_owed_to_slow_reader_mib} MiB owed to it)
            cut off by the relay: ${f.slow_reader_cut_off ? 'yes' : 'NO'}, after ${f.slow_reader_received} EVENT messages reached it; the reading subscriber got ${f.reader_received}/${f.events}
            relay RSS: idle ${f.rss_idle.rss_mib} MiB, before ${f.rss_before.rss_mib}, peak during ${f.rss_during.rss_peak_mib} (heap ${f.rss_during.anon_peak_mib}), after ${f.rss_after.rss_mib} (heap ${f.rss_after.anon_mib}); the rest is LMDB's mapped file
            control, cutoff out of reach (--max-pending-bytes 16 GiB): peak RSS ${c.rss_during.rss_peak_mib} MiB (heap ${c.rss_during.anon_peak_mib}), cut off: ${c.slow_reader_cut_off ? 'yes' : 'no'}`)
}
const wrong = []
for (const r of runs) {
  if (r.accepted !== N) wrong.push(`ingest: ${r.accepted}/${N} events accepted (${JSON.stringify(r.reasons)})`)
  if (r.fanned_out !== N) wrong.push(`fan-out: ${r.fanned_out}/${N} events reached the subscriber`)
}
if (flood && !flood.slow_reader_cut_off) wrong.push('flood: the slow reader was not cut off')
if (flood && flood.reader_received !== N) wrong.push(`flood: the reading subscriber got ${flood.reader_received}/${N}`)
for (const w of wrong) console.error('relay_load: ' + w)
process.exit(wrong.length ? 1 : 0)
