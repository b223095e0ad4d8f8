// NIP-19 across fedai and nostr-tools, both ways.
//
//   --direction nostr_tools_to_fedai: nostr-tools' nip19 encodes random keys, ids and pointers;
//     `fedai nip19 decode` (one process, stdin lines) must print the same values, and read
//     hand-made TLVs (invalid UTF-8, unknown types, repeats, any order) as nostr-tools does.
//     Broken strings (bad checksum, unknown prefix, wrong length, truncated TLV) must be refused
//     by fedai, and by nostr-tools too except the bare wrong lengths it does not check.
//   --direction fedai_to_nostr_tools: `fedai nip19 encode --jsonl` (one process) and the
//     single-entity subcommands encode random values; nostr-tools must decode the same values.
import {
  nt,
  setName,
  fail,
  check,
  parseArgs,
  runFedai,
  expectLines,
  bytesToHex,
  hexToBytes,
  Rng,
  randomString,
  utf8Length,
} from './lib.mjs'

const { nip19 } = nt
const { getPublicKey } = nt.pure

const args = parseArgs(['fedai_to_nostr_tools', 'nostr_tools_to_fedai'], { seed: 1, count: 1200 })
setName(`nip19_${args.direction}`)
const rng = new Rng(args.direction === 'nostr_tools_to_fedai' ? args.seed : args.seed + 0x5eed)

// ---- random entities, in the JSON form fedai's decode prints ------------------------------

// A relay hint: mostly URLs (some with non-ASCII paths), sometimes any string NIP-19 can carry.
function randomRelay(rng, maxBytes = 120) {
  for (;;) {
    let r
    const k = rng.int(0, 9)
    if (k < 5) r = `${rng.pick(['wss', 'ws'])}://relay${rng.int(0, 999)}.example.${rng.pick(['com', 'org', 'net'])}`
    else if (k < 7) r = `wss://${rng.pick(['nos.lol', 'relay.damus.io', '127.0.0.1:7447'])}/${randomString(rng, 20)}`
    else if (k < 8) r = ''
    else r = randomString(rng, 40)
    if (utf8Length(r) <= maxBytes) return r
  }
}

function randomRelays(rng, big) {
  const n = big ? rng.int(8, 12) : rng.chance(0.25) ? 0 : rng.int(1, 4)
  const relays = []
  for (let i = 0; i < n; i++) {
    if (big) relays.push(`wss://${'r'.repeat(rng.int(150, 200))}.example.com/${i}`)
    else relays.push(randomRelay(rng))
  }
  return relays
}

// 32-bit kinds: NIP-19 stores 4 bytes, so test beyond Nostr's 0..65535.
function randomKind(rng) {
  const k = rng.int(0, 5)
  if (k === 0) return rng.pick([0, 1, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1])
  if (k < 4) return rng.int(0, 65535)
  return rng.int(0, 2 ** 32 - 1)
}

function randomIdentifier(rng) {
  for (;;) {
    const k = rng.int(0, 4)
    const d = k === 0 ? '' : k === 1 ? `node-${rng.int(0, 99)}:llama-3` : randomString(rng, 60)
    if (utf8Length(d) <= 255) return d
  }
}

const TYPES = ['npub', 'nsec', 'note', 'nprofile', 'nevent', 'naddr']

// The i-th entity: the types take turns, and every 50th pointer is large (> 2,000 characters).
function randomEntity(rng, i) {
  const type = TYPES[i % TYPES.length]
  const big = i % 50 === 3 || i % 50 === 4 || i % 50 === 5
  switch (type) {
    case 'npub':
      // Any 32 bytes (NIP-19 does not check the curve); sometimes a real key.
      return { type, hex: rng.chance(0.5) ? rng.hex32() : getPublicKey(rng.secretKey()) }
    case 'nsec':
      return { type, hex: bytesToHex(rng.secretKey()) }
    case 'note':
      return { type, hex: rng.hex32() }
    case 'nprofile':
      return { type, pubkey: rng.hex32(), relays: randomRelays(rng, big) }
    case 'nevent': {
      const e = { type, id: rng.hex32(), relays: randomRelays(rng, big) }
      if (rng.chance(0.6)) e.author = rng.hex32()
      if (rng.chance(0.6)) e.kind = randomKind(rng)
      return e
    }
    default:
      return { type, identifier: randomIdentifier(rng), pubkey: rng.hex32(), kind: randomKind(rng), relays: randomRelays(rng, big) }
  }
}

// ---- nostr-tools' side --------------------------------------------------------------------

function ntEncode(e) {
  switch (e.type) {
    case 'npub':
      return nip19.npubEncode(e.hex)
    case 'nsec':
      return nip19.nsecEncode(hexToBytes(e.hex))
    case 'note':
      return nip19.noteEncode(e.hex)
    case 'nprofile':
      return nip19.nprofileEncode({ pubkey: e.pubkey, relays: e.relays })
    case 'nevent':
      return nip19.neventEncode({ id: e.id, relays: e.relays, author: e.author, kind: e.kind })
    default:
      return nip19.naddrEncode({ identifier: e.identifier, pubkey: e.pubkey, kind: e.kind, relays: e.relays })
  }
}

// nostr-tools' decode, in fedai's JSON form (absent optional fields left out).
function ntDecode(s) {
  const { type, data } = nip19.decode(s)
  switch (type) {
    case 'npub':
    case 'note':
      return { type, hex: data }
    case 'nsec':
      return { type, hex: bytesToHex(data) }
    case 'nprofile':
      return { type, pubkey: data.pubkey, relays: data.relays }
    case 'nevent': {
      const e = { type, id: data.id, relays: data.relays }
      if (data.author !== undefined) e.author = data.author
      if (data.kind !== undefined) e.kind = data.kind
      return e
    }
    default:
      return { type, identifier: data.identifier, pubkey: data.pubkey, kind: data.kind, relays: data.relays }
  }
}

// Key order does not matter; values, array order and which keys exist do.
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical)
  if (v && typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k])
    return out
  }
  return v
}
const same = (a, b) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))

// nostr-tools decodes TLV strings with a default TextDecoder, which drops a leading U+FEFF (BOM);
// fedai keeps the bytes as they are. What nostr-tools is expected to return for `e`:
let bomsDropped = 0
function asNostrToolsSeesIt(e) {
  const strip = (s) => {
    if (!s.startsWith('\ufeff')) return s
    bomsDropped++
    return s.slice(1)
  }
  const out = { ...e }
  if (out.identifier !== undefined) out.identifier = strip(out.identifier)
  if (out.relays !== undefined) out.relays = out.relays.map(strip)
  return out
}

const entities = []
for (let i = 0; i < args.count; i++) entities.push(randomEntity(rng, i))
const counts = Object.fromEntries(TYPES.map((t) => [t, entities.filter((e) => e.type === t).length]))
const longest = { n: 0 }

function nostrToolsToFedai() {
  const strings = entities.map(ntEncode)
  for (const s of strings) longest.n = Math.max(longest.n, s.length)
  const r = runFedai(args.fedai, ['nip19', 'decode'], strings.join('\n') + '\n')
  expectLines(r, strings.length, 0)
  for (let i = 0; i < strings.length; i++) {
    let got
    try {
      got = JSON.parse(r.lines[i])
    } catch (e) {
      fail(`line ${i + 1} of fedai's output is not JSON: ${e.message}`, { line: r.lines[i] })
    }
    check(same(got, entities[i]), `${entities[i].type} ${i + 1}: fedai decodes nostr-tools' string differently`, {
      string: strings[i],
      expected: entities[i],
      fedai: got,
    })
  }

  // The same strings as arguments (a few) and with the NIP-21 prefix, through the other input path.
  const few = strings.slice(0, 12)
  const r2 = runFedai(args.fedai, ['nip19', 'decode', ...few.map((s, i) => (i % 2 ? `nostr:${s}` : s))], '')
  expectLines(r2, few.length, 0)
  for (let i = 0; i < few.length; i++)
    check(same(JSON.parse(r2.lines[i]), entities[i]), `argument ${i + 1}: fedai decodes differently`, {
      string: few[i],
      fedai: r2.lines[i],
    })

  const crafted = craftedStrings()
  const rejected = brokenStrings(strings)
  console.log(
    `nip19 nostr-tools -> fedai: ${strings.length} strings encoded by nostr-tools decoded equal by fedai ` +
      `(${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}; longest ${longest.n} chars), ` +
      `${crafted} hand-made TLV strings read alike, ${rejected} broken strings refused by both (seed ${args.seed})`,
  )
}

// Hand-made TLV payloads that no encoder writes but a decoder must read: invalid UTF-8 in relay
// hints and identifiers (both replace it with U+FFFD the same way), unknown TLV types (ignored),
// repeated single-valued types (the first counts) and any TLV order. fedai must read each as
// nostr-tools does.
function craftedStrings() {
  const tlv = (...entries) => Uint8Array.from(entries.flatMap(([t, v]) => [t, v.length, ...v]))
  const key = () => [...rng.bytes(32)]
  const u32 = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
  const text = (s) => [...Buffer.from(s, 'utf8')]
  const badUtf8 = [[0xff], [0xe2, 0x82], [0xe2, 0x82, 0x41], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98], [0x80, 0x80, 0x41], [0xfe, 0xfe]]
  const strings = []
  for (const bad of badUtf8) {
    strings.push(nip19.encodeBytes('nprofile', tlv([0, key()], [1, [...text('wss://a'), ...bad, 0x62]])))
    strings.push(nip19.encodeBytes('naddr', tlv([0, [0x64, ...bad]], [2, key()], [3, u32(30023)], [1, bad])))
  }
  const [id, k1, k2] = [key(), key(), key()]
  strings.push(nip19.encodeBytes('nevent', tlv([9, [1, 2, 3]], [3, u32(7)], [2, k1], [1, text('wss://x')], [0, id], [2, k2], [3, u32(8)], [1, text('wss://y')], [0, key()])))
  strings.push(nip19.encodeBytes('naddr', tlv([3, u32(2 ** 32 - 1)], [1, text('wss://z')], [2, k1], [0, text('ñ')], [200, []])))
  strings.push(nip19.encodeBytes('nprofile', tlv([1, []], [0, k2], [1, text('wss://late')])))

  const expected = strings.map((s, i) => {
    try {
      return ntDecode(s)
    } catch (e) {
      fail(`sanity: nostr-tools cannot decode hand-made string ${i + 1}: ${e.message}`, { string: s })
    }
  })
  const r = runFedai(args.fedai, ['nip19', 'decode'], strings.join('\n') + '\n')
  expectLines(r, strings.length, 0)
  for (let i = 0; i < strings.length; i++)
    check(same(JSON.parse(r.lines[i]), expected[i]), `hand-made string ${i + 1}: fedai reads it differently from nostr-tools`, {
      string: strings[i],
      'nostr-tools': expected[i],
      fedai: r.lines[i],
    })
  return strings.length
}

// Broken strings, each with the word fedai's error must contain. nostr-tools must refuse them
// too (both: true), so the two agree on what is not NIP-19; it does not check the length of a
// bare npub, note or nsec, which fedai refuses.
function brokenStrings(strings) {
  const bech32Chars = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
  const cases = []
  for (let i = 0; i < 30; i++) {
    const s = strings[i]
    const at = rng.int(s.indexOf('1') + 1, s.length - 1)
    let c
    do c = rng.pick(bech32Chars)
    while (c === s[at])
    cases.push({ s: s.slice(0, at) + c + s.slice(at + 1), reason: /checksum/, what: 'one changed character', both: true })
  }
  const enc = (prefix, bytes) => nip19.encodeBytes(prefix, bytes)
  cases.push({ s: enc('nfoo', rng.bytes(32)), reason: /prefix/, what: 'unknown prefix', both: true })
  cases.push({ s: enc('lnbc', rng.bytes(32)), reason: /prefix/, what: 'unknown prefix', both: true })
  cases.push({ s: enc('npub', rng.bytes(31)), reason: /32 bytes/, what: 'npub of 31 bytes' })
  cases.push({ s: enc('note', rng.bytes(33)), reason: /32 bytes/, what: 'note of 33 bytes' })
  cases.push({ s: enc('nsec', rng.bytes(20)), reason: /32 bytes/, what: 'nsec of 20 bytes' })
  cases.push({ s: enc('nprofile', Uint8Array.of(0, 31, ...rng.bytes(31))), reason: /32 bytes/, what: 'nprofile key of 31 bytes', both: true })
  cases.push({ s: enc('nevent', Uint8Array.of(0, 40, ...rng.bytes(10))), reason: /TLV/, what: 'truncated TLV', both: true })
  cases.push({ s: enc('naddr', Uint8Array.of(0, 1, 65, 3, 4, 0, 0, 0, 1)), reason: /author/, what: 'naddr without author', both: true })
  cases.push({ s: 'npub1', reason: /short|checksum/, what: 'no data', both: true })
  cases.push({ s: strings[0].slice(0, -1), reason: /checksum/, what: 'truncated string', both: true })

  for (const { s, what, both } of cases) {
    if (!both) continue
    let threw = false
    try {
      nip19.decode(s)
    } catch {
      threw = true
    }
    check(threw, `sanity: nostr-tools decoded a broken string (${what})`, { string: s })
  }
  const r = runFedai(args.fedai, ['nip19', 'decode'], cases.map((c) => c.s).join('\n') + '\n')
  expectLines(r, cases.length, 1)
  for (let i = 0; i < cases.length; i++) {
    let got
    try {
      got = JSON.parse(r.lines[i])
    } catch (e) {
      fail(`broken string ${i + 1}: fedai's line is not JSON: ${e.message}`, { line: r.lines[i] })
    }
    check(
      typeof got.error === 'string' && Object.keys(got).length === 1 && cases[i].reason.test(got.error),
      `broken string ${i + 1} (${cases[i].what}): expected {"error":...} matching ${cases[i].reason}`,
      { string: cases[i].s, fedai: r.lines[i] },
    )
  }
  return cases.length
}

function fedaiToNostrTools() {
  const r = runFedai(args.fedai, ['nip19', 'encode', '--jsonl'], entities.map((e) => JSON.stringify(e) + '\n').join(''))
  expectLines(r, entities.length, 0)
  let identical = 0
  for (let i = 0; i < entities.length; i++) {
    const s = r.lines[i]
    const e = entities[i]
    longest.n = Math.max(longest.n, s.length)
    check(s.startsWith(`${e.type}1`), `${e.type} ${i + 1}: fedai printed "${s}"`, { input: e })
    let got
    try {
      got = ntDecode(s)
    } catch (err) {
      fail(`${e.type} ${i + 1}: nostr-tools cannot decode fedai's string: ${err.message}`, { string: s, input: e })
    }
    check(same(got, asNostrToolsSeesIt(e)), `${e.type} ${i + 1}: nostr-tools decodes fedai's string differently`, {
      string: s,
      input: e,
      'nostr-tools': got,
    })
    // Without TLVs there is one encoding: the strings must be identical. (TLV order is free:
    // nostr-tools writes the types in reverse, so pointers differ as strings.)
    if (['npub', 'nsec', 'note'].includes(e.type)) {
      check(s === ntEncode(e), `${e.type} ${i + 1}: fedai's string differs from nostr-tools'`, { fedai: s, 'nostr-tools': ntEncode(e) })
      identical++
    }
  }

  // The single-entity subcommands, a few of each type.
  let single = 0
  for (let i = 0; i < 60; i++) {
    const e = entities[i]
    const argv = ['nip19', 'encode', e.type]
    // `--opt=VALUE` keeps a value starting with '-' a value; an empty one must be a separate
    // argument (CLI11 reads `--opt=` as a missing value).
    const opt = (name, value) => {
      const v = String(value)
      if (v.startsWith('-')) argv.push(`${name}=${v}`)
      else argv.push(name, v)
    }
    if (e.type === 'npub' || e.type === 'nsec' || e.type === 'note') argv.push(e.hex)
    if (e.type === 'nprofile') opt('--pubkey', e.pubkey)
    if (e.type === 'nevent') {
      opt('--id', e.id)
      if (e.author !== undefined) opt('--author', e.author)
      if (e.kind !== undefined) opt('--kind', e.kind)
    }
    if (e.type === 'naddr') {
      opt('--identifier', e.identifier)
      opt('--pubkey', e.pubkey)
      opt('--kind', e.kind)
    }
    for (const relay of e.relays ?? []) opt('--relay', relay)
    if (argv.some((a) => a.includes('\0'))) continue // a NUL can't be in an argument
    const one = runFedai(args.fedai, argv, '')
    expectLines(one, 1, 0)
    let got
    try {
      got = ntDecode(one.lines[0])
    } catch (err) {
      fail(`fedai ${argv.slice(0, 3).join(' ')}: nostr-tools cannot decode the result: ${err.message}`, { string: one.lines[0] })
    }
    check(same(got, asNostrToolsSeesIt(e)), `fedai ${argv.slice(0, 3).join(' ')} ${i + 1}: nostr-tools decodes it differently`, {
      argv,
      'nostr-tools': got,
    })
    single++
  }

  // Inputs fedai must refuse, one line each: the line says why and the exit status is 1.
  const bad = [
    [{ type: 'npub', hex: 'ab' }, /64 hex/],
    [{ type: 'nsec', hex: '00'.repeat(32) }, /secret key/],
    [{ type: 'nprofile', pubkey: rng.hex32(), relays: ['x'.repeat(256)] }, /255/],
    [{ type: 'naddr', identifier: 'x'.repeat(256), pubkey: rng.hex32(), kind: 1 }, /255/],
    [{ type: 'nevent', id: rng.hex32(), kind: 2 ** 32 }, /kind/],
    [{ type: 'nevent', id: rng.hex32(), relay: ['wss://typo'] }, /unknown field/],
    [{ type: 'nope', hex: rng.hex32() }, /unknown type/],
    [{ type: 'nprofile', pubkey: rng.hex32(), relays: Array(40).fill('wss://' + 'r'.repeat(90)) }, /5000/],
  ]
  const rb = runFedai(args.fedai, ['nip19', 'encode', '--jsonl'], bad.map(([e]) => JSON.stringify(e) + '\n').join(''))
  expectLines(rb, bad.length, 1)
  for (let i = 0; i < bad.length; i++)
    check(rb.lines[i].startsWith('invalid: ') && bad[i][1].test(rb.lines[i]), `bad input ${i + 1}: fedai printed "${rb.lines[i]}"`, {
      input: bad[i][0],
      expected: String(bad[i][1]),
    })

  console.log(
    `nip19 fedai -> nostr-tools: ${entities.length} strings encoded by fedai (--jsonl) decoded equal by nostr-tools ` +
      `(${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(', ')}; ${identical} identical to nostr-tools' ` +
      `strings; longest ${longest.n} chars; ${bomsDropped} leading BOMs dropped by nostr-tools), ${single} single-entity encodes, ${bad.length} bad inputs refused (seed ${args.seed})`,
  )
}

if (args.direction === 'nostr_tools_to_fedai') nostrToolsToFedai()
else fedaiToNostrTools()
