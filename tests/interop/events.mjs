// NIP-01 events across fedai and nostr-tools, both ways.
//
//   --direction fedai_to_nostr_tools: `fedai event sign` signs random templates (one process,
//     JSON lines); nostr-tools' verifyEvent must accept each, getEventHash must equal fedai's id,
//     the fields must come back unchanged, and fedai's JSON must be byte-identical to
//     JSON.stringify of the same event (the escaping that defines the id).
//   --direction nostr_tools_to_fedai: nostr-tools' finalizeEvent signs random templates;
//     `fedai event verify` must print `valid <id>` for each, and `invalid ...` for tampered
//     copies.
import {
  nt,
  setName,
  fail,
  check,
  parseArgs,
  runFedai,
  expectLines,
  bytesToHex,
  Rng,
  randomTemplate,
  controlsCovered,
} from './lib.mjs'

const { verifyEvent, getEventHash, getPublicKey, finalizeEvent } = nt.pure

const args = parseArgs(['fedai_to_nostr_tools', 'nostr_tools_to_fedai'], { seed: 1, count: 1000 })
setName(`events_${args.direction}`)
// Same generator, different seeds in the two directions (unless --seed is given).
const rng = new Rng(args.direction === 'fedai_to_nostr_tools' ? args.seed : args.seed + 0x5eed)

const templates = []
for (let i = 0; i < args.count; i++) templates.push(randomTemplate(rng, i))
const covered = controlsCovered(templates.map((t) => t.content))
if (args.count >= 33) check(covered === 33, `generator covered only ${covered} of 33 control characters`)

const stringify = (ev) =>
  JSON.stringify({
    id: ev.id,
    pubkey: ev.pubkey,
    created_at: ev.created_at,
    kind: ev.kind,
    tags: ev.tags,
    content: ev.content,
    sig: ev.sig,
  })

function fedaiToNostrTools() {
  const sk = rng.secretKey()
  const pubkey = getPublicKey(sk)
  const input = templates.map((t) => JSON.stringify(t) + '\n').join('')
  const r = runFedai(args.fedai, ['event', 'sign', '--key', bytesToHex(sk)], input)
  expectLines(r, templates.length, 0)

  let bytes = 0
  for (let i = 0; i < templates.length; i++) {
    const t = templates[i]
    const line = r.lines[i]
    bytes += line.length
    let ev
    try {
      ev = JSON.parse(line)
    } catch (e) {
      fail(`line ${i + 1} of fedai's output is not JSON: ${e.message}`, { line })
    }
    const where = { line: i + 1, template: t, event: ev }
    check(ev.pubkey === pubkey, `event ${i + 1}: pubkey is not the signing key's`, where)
    check(ev.content === t.content, `event ${i + 1}: content changed`, where)
    check(JSON.stringify(ev.tags) === JSON.stringify(t.tags), `event ${i + 1}: tags changed`, where)
    check(ev.kind === t.kind && ev.created_at === t.created_at, `event ${i + 1}: kind or created_at changed`, where)
    const hash = getEventHash(ev)
    check(hash === ev.id, `event ${i + 1}: fedai's id ${ev.id} differs from nostr-tools' ${hash}`, where)
    check(verifyEvent(ev) === true, `event ${i + 1}: nostr-tools' verifyEvent rejects fedai's event`, where)
    check(line === stringify(ev), `event ${i + 1}: fedai's JSON differs from JSON.stringify`, {
      fedai: line,
      'JSON.stringify': stringify(ev),
    })
  }

  // The checker itself must be able to say no: a changed copy of a verified event fails.
  for (let i = 0; i < Math.min(20, templates.length); i++) {
    const ev = JSON.parse(r.lines[i])
    ev.content += 'x'
    check(verifyEvent(ev) === false, `sanity: nostr-tools accepted a tampered event ${i + 1}`)
  }

  console.log(
    `events fedai -> nostr-tools: ${templates.length} events signed by fedai verified by nostr-tools ` +
      `(ids equal, content and tags unchanged, JSON byte-identical; ${covered} control chars covered, ` +
      `${bytes} bytes; seed ${args.seed})`,
  )
}

// Tampered copies of a signed event, each of which must fail verification.
function tamper(ev, k) {
  const t = JSON.parse(stringify(ev)) // a plain copy, without nostr-tools' verified mark
  switch (k % 7) {
    case 0:
      t.content += ' '
      return ['content', t]
    case 1:
      t.created_at = t.created_at === 0 ? 1 : t.created_at - 1
      return ['created_at', t]
    case 2:
      t.kind = t.kind === 0 ? 1 : t.kind - 1
      return ['kind', t]
    case 3:
      t.tags = [...t.tags, ['t', 'extra']]
      return ['tags', t]
    case 4: {
      const i = rng.int(0, 127)
      const d = ((parseInt(t.sig[i], 16) + 1) % 16).toString(16)
      t.sig = t.sig.slice(0, i) + d + t.sig.slice(i + 1)
      return ['sig', t]
    }
    case 5:
      t.pubkey = getPublicKey(rng.secretKey())
      return ['pubkey', t]
    default: {
      // A consistent id for changed content, with the old signature.
      t.content = t.content + '!'
      t.id = getEventHash(t)
      return ['id+content', t]
    }
  }
}

function nostrToolsToFedai() {
  const sk = rng.secretKey()
  const events = templates.map((t) => finalizeEvent(structuredClone(t), sk))
  const input = events.map((ev) => stringify(ev) + '\n').join('')
  const r = runFedai(args.fedai, ['event', 'verify'], input)
  expectLines(r, events.length, 0)
  for (let i = 0; i < events.length; i++) {
    const want = `valid ${events[i].id}`
    check(r.lines[i] === want, `event ${i + 1}: fedai says "${r.lines[i]}", expected "${want}"`, {
      event: stringify(events[i]),
    })
  }

  // Tampered events, interleaved with good ones: each comes back `invalid <claimed id> <reason>`.
  const mixed = []
  const ntampered = Math.max(7, Math.floor(events.length / 5))
  for (let k = 0; k < ntampered; k++) {
    const ev = events[k % events.length]
    const [what, bad] = tamper(ev, k)
    check(!verifyEvent(bad), `sanity: nostr-tools accepted an event with a tampered ${what}`)
    mixed.push({ json: JSON.stringify(bad), want: `invalid ${bad.id} `, what })
    if (k % 3 === 0) mixed.push({ json: stringify(ev), want: `valid ${ev.id}`, what: 'untouched' })
  }
  const r2 = runFedai(args.fedai, ['event', 'verify'], mixed.map((m) => m.json + '\n').join(''))
  expectLines(r2, mixed.length, 1)
  for (let i = 0; i < mixed.length; i++) {
    const { want, what, json } = mixed[i]
    const ok = want.startsWith('invalid') ? r2.lines[i].startsWith(want) : r2.lines[i] === want
    check(ok, `tampered batch line ${i + 1} (${what}): fedai says "${r2.lines[i]}", expected "${want}..."`, {
      event: json,
    })
  }

  // Size is a relay's policy, not validity: a 1 MiB event (64 KiB of control characters, six
  // bytes each escaped, and text) verifies; with --max-bytes it is refused by name.
  let control = ''
  for (let i = 0; i < 65536; i++) control += String.fromCharCode(i % 32)
  const big = finalizeEvent({ kind: 1, created_at: 1700000000, tags: [], content: control + 'x'.repeat(700000) }, sk)
  const bigJson = stringify(big)
  check(bigJson.length > 1000000, `the large event is only ${bigJson.length} bytes`)
  const r3 = runFedai(args.fedai, ['event', 'verify'], bigJson + '\n')
  expectLines(r3, 1, 0)
  check(r3.lines[0] === `valid ${big.id}`, `a ${bigJson.length}-byte event: fedai says "${r3.lines[0]}"`)
  const r4 = runFedai(args.fedai, ['event', 'verify', '--max-bytes', '262144'], bigJson + '\n')
  expectLines(r4, 1, 1)
  check(r4.lines[0].startsWith(`invalid ${big.id} invalid:`), `with --max-bytes: fedai says "${r4.lines[0]}"`)

  console.log(
    `events nostr-tools -> fedai: ${events.length} events signed by nostr-tools verified by fedai, ` +
      `${ntampered} tampered ones rejected (${covered} control chars covered; seed ${args.seed}), ` +
      `a ${bigJson.length}-byte event verified`,
  )
}

if (args.direction === 'fedai_to_nostr_tools') fedaiToNostrTools()
else nostrToolsToFedai()
