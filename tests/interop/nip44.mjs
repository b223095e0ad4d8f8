// NIP-44 (version 2) across fedai and nostr-tools, both ways.
//
//   --direction fedai_to_nostr_tools: `fedai nip44 encrypt --to B --jsonl` (one process; each
//     stdin line a JSON string) seals random UTF-8 plaintexts of 1..65535 bytes; nostr-tools
//     must decrypt each to the same text, and each payload must have the padded size NIP-44 gives.
//   --direction nostr_tools_to_fedai: nostr-tools encrypts; `fedai nip44 decrypt --from A
//     --jsonl` (one process; prints each plaintext as a JSON string) must give the same text, and
//     `null` for tampered or foreign payloads.
import { nt, setName, fail, check, parseArgs, runFedai, expectLines, bytesToHex, Rng, randomUtf8OfBytes, utf8Length } from './lib.mjs'

const { getPublicKey } = nt.pure
const { v2 } = nt.nip44

const args = parseArgs(['fedai_to_nostr_tools', 'nostr_tools_to_fedai'], { seed: 1, count: 200 })
setName(`nip44_${args.direction}`)
const rng = new Rng(args.direction === 'fedai_to_nostr_tools' ? args.seed : args.seed + 0x5eed)

// Byte lengths: the padding boundaries first, then small, medium and large ones up to 65535.
const EDGES = [1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 320, 321, 8192, 8193, 32768, 32769, 65534, 65535]
function randomLength(i) {
  if (i < EDGES.length) return EDGES[i]
  const k = rng.int(0, 9)
  if (k < 4) return rng.int(1, 300)
  if (k < 7) return rng.int(301, 8000)
  return rng.int(8001, 65535)
}

const plaintexts = []
for (let i = 0; i < args.count; i++) {
  const pt = randomUtf8OfBytes(rng, randomLength(i))
  check(utf8Length(pt) >= 1 && utf8Length(pt) <= 65535, `generator made a plaintext of ${utf8Length(pt)} bytes`)
  plaintexts.push(pt)
}
const totalBytes = plaintexts.reduce((n, p) => n + utf8Length(p), 0)

const a = rng.secretKey() // the sender
const b = rng.secretKey() // the recipient
const aPub = getPublicKey(a)
const bPub = getPublicKey(b)
const keyA = bytesToHex(a)
const keyB = bytesToHex(b)

// nostr-tools decodes the plaintext with a default TextDecoder, which drops a leading U+FEFF
// (BOM); fedai's payload carries it (the padded size check above proves the bytes are there).
let bomsDropped = 0
function asNostrToolsSeesIt(text) {
  if (!text.startsWith('\ufeff')) return text
  bomsDropped++
  return text.slice(1)
}

function decodedLength(payload) {
  return Buffer.from(payload, 'base64').length
}

function fedaiToNostrTools() {
  // The first plaintext twice: a fresh nonce each time, so the payloads must differ.
  const input = [...plaintexts, plaintexts[0]]
  const r = runFedai(args.fedai, ['nip44', 'encrypt', '--key', keyA, '--to', bPub, '--jsonl'], input.map((p) => JSON.stringify(p) + '\n').join(''))
  expectLines(r, input.length, 0)
  const key = v2.utils.getConversationKey(b, aPub)
  for (let i = 0; i < input.length; i++) {
    const payload = r.lines[i]
    const n = utf8Length(input[i])
    const want = 1 + 32 + 2 + v2.utils.calcPaddedLen(n) + 32
    check(/^[A-Za-z0-9+/]+={0,2}$/.test(payload), `payload ${i + 1} is not base64`, { payload })
    check(decodedLength(payload) === want, `payload ${i + 1} (${n} bytes of plaintext) decodes to ${decodedLength(payload)} bytes, expected ${want}`)
    let got
    try {
      got = v2.decrypt(payload, key)
    } catch (e) {
      fail(`payload ${i + 1} (${n} bytes of plaintext): nostr-tools cannot decrypt it: ${e.message}`, { plaintext: input[i] })
    }
    const expected = asNostrToolsSeesIt(input[i])
    check(got === expected, `payload ${i + 1}: nostr-tools decrypts to different text`, { expected, 'nostr-tools': got })
  }
  check(r.lines[0] !== r.lines[input.length - 1], 'the same plaintext encrypted twice gave the same payload (nonce reused)')
  // The checker can say no: the payload does not open under a third key.
  const other = v2.utils.getConversationKey(rng.secretKey(), aPub)
  let opened = true
  try {
    v2.decrypt(r.lines[0], other)
  } catch {
    opened = false
  }
  check(!opened, 'sanity: nostr-tools decrypted a payload with the wrong conversation key')

  console.log(
    `nip44 fedai -> nostr-tools: ${input.length} payloads encrypted by fedai decrypted equal by nostr-tools ` +
      `(${totalBytes} bytes of plaintext, ${Math.min(...plaintexts.map(utf8Length))}..${Math.max(...plaintexts.map(utf8Length))} bytes each, ` +
      `padded sizes checked; ${bomsDropped} leading BOMs dropped by nostr-tools; seed ${args.seed})`,
  )
}

// Base64 payload with byte `index` (negative: from the end) xor-ed with `mask`.
function flip(payload, index, mask) {
  const bytes = Buffer.from(payload, 'base64')
  const i = index < 0 ? bytes.length + index : index
  bytes[i] ^= mask
  return bytes.toString('base64')
}

function nostrToolsToFedai() {
  const key = v2.utils.getConversationKey(a, bPub)
  const payloads = plaintexts.map((p) => v2.encrypt(p, key))
  const r = runFedai(args.fedai, ['nip44', 'decrypt', '--key', keyB, '--from', aPub, '--jsonl'], payloads.join('\n') + '\n')
  expectLines(r, payloads.length, 0)
  for (let i = 0; i < payloads.length; i++) {
    let got
    try {
      got = JSON.parse(r.lines[i])
    } catch (e) {
      fail(`line ${i + 1} of fedai's output is not JSON: ${e.message}`, { line: r.lines[i] })
    }
    check(got === plaintexts[i], `payload ${i + 1} (${utf8Length(plaintexts[i])} bytes): fedai decrypts to different text`, {
      expected: plaintexts[i],
      fedai: got,
    })
  }

  // Payloads fedai must refuse (null), with good ones among them that must still open.
  const good = payloads[EDGES.indexOf(33)] ?? payloads[0]
  const goodText = plaintexts[payloads.indexOf(good)]
  const foreign = v2.encrypt('for somebody else', v2.utils.getConversationKey(a, getPublicKey(rng.secretKey())))
  const cases = [
    ['MAC changed', flip(good, -1, 0x01)],
    ['ciphertext changed', flip(good, 40, 0x80)],
    ['nonce changed', flip(good, 5, 0x10)],
    ['version 1', flip(good, 0, 0x03)],
    ['truncated by 4 characters', good.slice(0, -4)],
    ['not base64', good.slice(0, 50) + '*' + good.slice(51)],
    ['future version marker', '#' + good.slice(1)],
    ['too short', 'AgAA'],
    ['sealed to another key', foreign],
  ]
  const lines = []
  const expected = []
  cases.forEach(([what, payload], i) => {
    lines.push(payload)
    expected.push([what, null])
    if (i % 3 === 0) {
      lines.push(good)
      expected.push(['untouched', goodText])
    }
  })
  for (const [what, payload] of cases) {
    let opened = true
    try {
      v2.decrypt(payload, v2.utils.getConversationKey(b, aPub))
    } catch {
      opened = false
    }
    check(!opened, `sanity: nostr-tools decrypted a broken payload (${what})`)
  }
  const r2 = runFedai(args.fedai, ['nip44', 'decrypt', '--key', keyB, '--from', aPub, '--jsonl'], lines.join('\n') + '\n')
  check(r2.lines.length === lines.length, `fedai printed ${r2.lines.length} lines for ${lines.length} payloads`, { stderr: r2.stderr })
  for (let i = 0; i < lines.length; i++) {
    const [what, want] = expected[i]
    let got
    try {
      got = JSON.parse(r2.lines[i])
    } catch (e) {
      fail(`broken batch line ${i + 1} (${what}): not JSON: ${e.message}`, { line: r2.lines[i] })
    }
    check(got === want, `broken batch line ${i + 1} (${what}): fedai printed ${r2.lines[i]}, expected ${JSON.stringify(want)}`, {
      payload: lines[i],
    })
  }

  console.log(
    `nip44 nostr-tools -> fedai: ${payloads.length} payloads encrypted by nostr-tools decrypted equal by fedai ` +
      `(${totalBytes} bytes of plaintext), ${cases.length} broken payloads refused with null (seed ${args.seed})`,
  )
}

if (args.direction === 'fedai_to_nostr_tools') fedaiToNostrTools()
else nostrToolsToFedai()
