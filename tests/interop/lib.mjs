// Shared pieces of the nostr-tools cross-checks: argument parsing, a seeded PRNG with generators
// of hostile strings, and a way to run the fedai executable over stdin/stdout.
//
// Every script is deterministic for a given --seed, so a failure can be reproduced by running
// the same command line again (ctest --output-on-failure prints it).
import { spawnSync } from 'node:child_process'

// ---- nostr-tools, with a useful message when scripts/setup has not run ----------------------

let loaded
try {
  loaded = {
    pure: await import('nostr-tools/pure'),
    nip19: await import('nostr-tools/nip19'),
    nip44: await import('nostr-tools/nip44'),
  }
} catch (e) {
  console.error(`FAIL: cannot load nostr-tools (${e.message}).`)
  console.error('Run scripts/setup, which runs `npm ci` in tests/interop.')
  process.exit(1)
}
export const nt = loaded

// ---- failing -------------------------------------------------------------------------------

let scriptName = 'interop'
export function setName(name) {
  scriptName = name
}

// Stops at the first mismatch with a message that says what, where, and how to reproduce.
export function fail(message, details) {
  console.error(`FAIL ${scriptName}: ${message}`)
  if (details !== undefined) {
    for (const [k, v] of Object.entries(details)) console.error(`  ${k}: ${show(v)}`)
  }
  console.error(`  reproduce: node ${process.argv.slice(1).join(' ')}`)
  process.exit(1)
}

// A value for a failure message: JSON (escapes make controls visible), cut to a sane length.
export function show(v) {
  let s = typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? bytesToHex(x) : x))
  if (s === undefined) s = String(v)
  return s.length > 600 ? `${s.slice(0, 600)}... (${s.length} chars)` : s
}

export function check(condition, message, details) {
  if (!condition) fail(message, details)
}

// ---- arguments -----------------------------------------------------------------------------

// --fedai PATH --direction D [--seed N] [--count N]
export function parseArgs(directions, defaults) {
  const args = { ...defaults }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--fedai') args.fedai = value()
    else if (a === '--direction') args.direction = value()
    else if (a === '--seed') args.seed = Number(value())
    else if (a === '--count') args.count = Number(value())
    else usage(`unknown argument ${a}`)
  }
  if (!args.fedai) usage('--fedai is required')
  if (!directions.includes(args.direction)) usage(`--direction must be one of ${directions.join(', ')}`)
  if (!Number.isSafeInteger(args.seed) || args.seed < 0) usage('--seed must be a non-negative integer')
  if (!Number.isSafeInteger(args.count) || args.count < 1) usage('--count must be a positive integer')
  return args

  function usage(message) {
    console.error(`usage: node ${process.argv[1]} --fedai PATH --direction (${directions.join('|')}) [--seed N] [--count N]`)
    console.error(`error: ${message}`)
    process.exit(2)
  }
}

// ---- running fedai -------------------------------------------------------------------------

// Runs fedai with `input` on stdin; returns { status, stdout, stderr, lines } (lines: stdout
// split at newlines, without the empty string after the final one). Fails on a timeout, a
// signal or a crash, never on an exit status: the caller checks that.
export function runFedai(fedai, args, input, { timeoutMs = 25000 } = {}) {
  const r = spawnSync(fedai, args, {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    timeout: timeoutMs,
  })
  const shown = `${fedai} ${args.map((a, i) => (args[i - 1] === '--key' ? '<secret>' : a)).join(' ')}`
  if (r.error?.code === 'EPIPE')
    fail(`${shown} exited with status ${r.status} without reading its input`, { stderr: r.stderr })
  if (r.error) fail(`cannot run ${shown}: ${r.error.message}`, { stderr: r.stderr })
  if (r.signal) fail(`${shown} was killed by ${r.signal}`, { stderr: r.stderr })
  const lines = r.stdout.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines, shown }
}

// Checks the exit status and the number of output lines.
export function expectLines(result, count, status) {
  check(result.status === status, `${result.shown} exited with ${result.status}, expected ${status}`, {
    stderr: result.stderr,
  })
  check(result.lines.length === count, `${result.shown} printed ${result.lines.length} lines, expected ${count}`, {
    stderr: result.stderr,
    'first line': result.lines[0],
  })
}

// ---- hex -----------------------------------------------------------------------------------

export function bytesToHex(bytes) {
  return Buffer.from(bytes).toString('hex')
}
export function hexToBytes(hex) {
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

// ---- seeded randomness ---------------------------------------------------------------------

// sfc32 seeded through splitmix32: small, fast, and good enough for test data.
export class Rng {
  constructor(seed) {
    let s = seed >>> 0
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next()
    this.b = next()
    this.c = next()
    this.d = next() ^ Math.floor(seed / 2 ** 32)
    for (let i = 0; i < 12; i++) this.u32()
  }
  u32() {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }
  // Uniform integer in [lo, hi], for ranges up to 2^53.
  int(lo, hi) {
    const span = hi - lo + 1
    if (span <= 2 ** 32) return lo + Math.floor((this.u32() / 2 ** 32) * span)
    const r = (this.u32() & 0x1fffff) * 2 ** 32 + this.u32() // 53 random bits
    return lo + (r % span)
  }
  chance(p) {
    return this.u32() / 2 ** 32 < p
  }
  pick(list) {
    return list[this.int(0, list.length - 1)]
  }
  bytes(n) {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
  hex32() {
    return bytesToHex(this.bytes(32))
  }
  // A valid secp256k1 secret key (1 <= k < n): random 32 bytes are, with overwhelming odds.
  secretKey() {
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    for (;;) {
      const k = this.bytes(32)
      const v = BigInt('0x' + bytesToHex(k))
      if (v > 0n && v < n) return k
    }
  }
}

// ---- hostile strings -----------------------------------------------------------------------

export const CONTROLS = Array.from({ length: 32 }, (_, i) => String.fromCharCode(i))
export const DEL = '\x7f'

const EMOJI = [
  '😀', '🎉', '🔥', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '❤️', '🧑🏿‍💻', '⚡', '🤖', '🫠', '1️⃣', '🏴‍☠️',
]
// Characters that trip JSON writers: quotes, escapes, line separators JSON.stringify leaves raw,
// C1 controls, BOM, replacement and non-characters.
const SPECIAL = ['"', '\\', '/', '\\u0000', '\\n', '\u2028', '\u2029', '\u0085', '\u009f', '\ufeff', '\ufffd', '\ufffe', '\uffff', '</script>', "'", '`']

// One random Unicode scalar value (never a lone surrogate) from a mix of categories.
export function randomChar(rng) {
  const k = rng.int(0, 99)
  if (k < 30) return String.fromCharCode(rng.int(0x20, 0x7e)) // printable ASCII
  if (k < 40) return rng.pick(CONTROLS)
  if (k < 42) return DEL
  if (k < 50) return rng.pick(SPECIAL)
  if (k < 62) return String.fromCodePoint(rng.int(0x80, 0x7ff)) // 2-byte UTF-8
  if (k < 78) {
    let cp // 3-byte UTF-8, skipping the surrogate range
    do cp = rng.int(0x800, 0xffff)
    while (cp >= 0xd800 && cp <= 0xdfff)
    return String.fromCodePoint(cp)
  }
  if (k < 90) return String.fromCodePoint(rng.int(0x10000, 0x10ffff)) // 4-byte UTF-8
  return rng.pick(EMOJI)
}

// A random string of 0..maxChars characters, biased towards short ones.
export function randomString(rng, maxChars) {
  const r = rng.int(0, 9)
  const n = r < 2 ? 0 : r < 7 ? rng.int(1, Math.min(16, maxChars)) : rng.int(0, maxChars)
  let s = ''
  for (let i = 0; i < n; i++) s += randomChar(rng)
  return s
}

export function utf8Length(s) {
  return Buffer.byteLength(s, 'utf8')
}

// A random string of exactly `bytes` bytes of UTF-8.
export function randomUtf8OfBytes(rng, bytes) {
  let s = ''
  let left = bytes
  while (left > 0) {
    let c = randomChar(rng)
    let n = utf8Length(c)
    if (n > left) {
      c = String.fromCharCode(rng.int(0x20, 0x7e))
      n = 1
    }
    s += c
    left -= n
  }
  return s
}

// ---- random events -------------------------------------------------------------------------

const TAG_NAMES = ['e', 'p', 'a', 'd', 't', 'r', 'expiration', 'u', 'method', '', 'model', 'x']

// created_at over the whole range fedai accepts (0..2^53-1), with its edges and realistic times.
function randomCreatedAt(rng) {
  const k = rng.int(0, 9)
  if (k === 0) return rng.pick([0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1])
  if (k < 6) return rng.int(1_600_000_000, 1_900_000_000)
  return rng.int(0, 2 ** 53 - 1)
}

// The i-th template of a stream: content always holds control character i % 32 (and DEL every
// 33rd), so a stream of 1,000 covers every one of them several times.
export function randomTemplate(rng, i) {
  let content = randomString(rng, rng.chance(0.05) ? 2000 : 200)
  const forced = i % 33 === 32 ? DEL : CONTROLS[i % 32]
  const at = rng.int(0, content.length)
  // Insert between code points: never split a surrogate pair.
  const chars = Array.from(content)
  chars.splice(Math.min(at, chars.length), 0, forced)
  content = chars.join('')
  const tags = []
  const ntags = rng.chance(0.2) ? 0 : rng.int(1, rng.chance(0.1) ? 40 : 8)
  for (let t = 0; t < ntags; t++) {
    const nvalues = rng.int(0, 6)
    const tag = []
    for (let v = 0; v < nvalues; v++) {
      if (v === 0 && rng.chance(0.6)) tag.push(rng.pick(TAG_NAMES))
      else if (rng.chance(0.15)) tag.push('')
      else if (rng.chance(0.2)) tag.push(rng.hex32())
      else tag.push(randomString(rng, 40))
    }
    tags.push(tag)
  }
  const kind = rng.chance(0.1) ? rng.pick([0, 1, 65535, 26090, 36090]) : rng.int(0, 65535)
  return { kind, created_at: randomCreatedAt(rng), tags, content }
}

// The characters from CONTROLS + DEL that appear somewhere in `strings`.
export function controlsCovered(strings) {
  const seen = new Set()
  for (const s of strings) for (const c of s) if (c < ' ' || c === DEL) seen.add(c)
  return seen.size
}
