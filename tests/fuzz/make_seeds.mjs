// Writes seed inputs for the fuzzers from the official vectors: events, NIP-19 strings,
// NIP-44 payloads, a few filters and chat requests. Usage: node make_seeds.mjs VECTORS_DIR OUT_DIR
import fs from 'node:fs';
import path from 'node:path';

const [vectors, out] = process.argv.slice(2);
const write = (dir, name, data) => {
  fs.mkdirSync(path.join(out, dir), { recursive: true });
  fs.writeFileSync(path.join(out, dir, name), data);
};
const read = (f) => JSON.parse(fs.readFileSync(path.join(vectors, f), 'utf8'));

const events = read('nostr-events.json');
[...events.valid, ...events.invalid].forEach((e, i) => write('event_parse', `e${i}`, JSON.stringify(e.event)));

const bolt11 = read('bolt11-vectors.json');
[...bolt11.valid, ...bolt11.invalid].forEach((v, i) => write('bolt11_decode', `b${i}`, v.invoice));
const nip19 = read('nip19-vectors.json');
[...nip19.bare, ...nip19.tlv].forEach((v, i) => write('nip19_decode', `n${i}`, v.bech32));

const nip44 = read('nip44.vectors.json').v2;
nip44.valid.encrypt_decrypt.forEach((v, i) => write('nip44_decrypt', `p${i}`, v.payload));
nip44.invalid.decrypt.forEach((v, i) => write('nip44_decrypt', `i${i}`, v.payload));

const filters = [
  '{"ids":["' + 'a'.repeat(64) + '"],"kinds":[1,36090],"limit":10}',
  '{"authors":["' + 'b'.repeat(64) + '"],"#e":["x"],"#p":["y"],"since":1,"until":2}',
  '{"kinds":[26090],"#m":["llama"],"#t":["chat"],"limit":0}',
];
filters.forEach((f, i) => write('filter_parse', `f${i}`, f));

const chats = [
  '{"model":"tiny","messages":[{"role":"user","content":"Hello"}]}',
  '{"model":"tiny","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_completion_tokens":64,"stream":true,"temperature":0.5,"n":1}',
  '{"model":"tiny","messages":[{"role":"user","content":"x\\u00e9\\n"}],"fedai":{"mode":"auction","privacy":"PL2","max_price_msat":5000,"bid_window_ms":150}}',
];
chats.forEach((c, i) => write('chat_request', `c${i}`, c));
