// Writes a tiny random-weight llama-architecture model as GGUF v3, for fedai's tests, devnet and
// demo: real llama.cpp inference (node-llama-cpp) with a model small enough to generate at test
// time. The text it produces is gibberish; the request, streaming and token counting are real.
//
//   node make_gguf.mjs OUT.gguf [--seed N]
//   import { writeTinyGguf } from "./make_gguf.mjs"
//
// The model: embedding 64, 2 blocks, 4 heads (head size 16), FFN 128, context 256, F32 tensors.
// Tokenizer `llama` (SentencePiece): <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF> and a few
// dozen word pieces (single letters and the prefixes of some words, so merges happen), vocab 323.
// About 500 KB. Deterministic: the same seed writes the same bytes.
//
// Generated text stays printable ASCII: the output rows of the control and byte tokens are zero,
// and every token embedding carries a large constant in dimension 0 that RMS normalisation keeps
// dominant; the output weights of control and byte tokens are strongly negative on that dimension
// only, so their logits sit far below every word piece's and sampling never picks them (not even
// </s>: generation always runs to max_tokens, which keeps tests predictable).
//
// GGUF v3 layout (ggml's docs/gguf.md): magic "GGUF", u32 version 3, u64 tensor count, u64
// metadata count, the metadata key/values, the tensor infos (name, dims innermost first, type,
// offset into the data section), padding to general.alignment, the tensor data (each aligned).
import { writeFileSync, mkdirSync, renameSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const N_EMBD = 64;
const N_LAYER = 2;
const N_HEAD = 4;
const N_FF = 128;
const N_CTX = 256;
const ALIGNMENT = 32;

// GGUF metadata value types.
const T_UINT32 = 4;
const T_INT32 = 5;
const T_FLOAT32 = 6;
const T_BOOL = 7;
const T_STRING = 8;
const T_ARRAY = 9;
// ggml tensor type.
const GGML_F32 = 0;

// SentencePiece token types (llama.cpp's llama_token_type).
const TOKEN_NORMAL = 1;
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_BYTE = 6;

const SPACE = "\u2581"; // SentencePiece's word-start marker

function vocabulary() {
  const tokens = ["<unk>", "<s>", "</s>"];
  const types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    types.push(TOKEN_BYTE);
  }
  const pieces = [SPACE, ".", ","];
  for (let c = 97; c <= 122; c++) pieces.push(String.fromCharCode(c));
  // Each word with all its prefixes, so SentencePiece's pairwise merges can reach it.
  const words = ["the", "and", "of", "to", "in", "is", "it", "on", "node", "market", "relay", "bid",
                 "fed"];
  for (const w of words) {
    for (let n = 1; n <= w.length; n++) {
      const piece = SPACE + w.slice(0, n);
      if (!pieces.includes(piece)) pieces.push(piece);
    }
  }
  for (const p of pieces) {
    tokens.push(p);
    types.push(TOKEN_NORMAL);
  }
  // Longer pieces score higher so merges prefer them (scores act as log probabilities).
  const scores = tokens.map((t, i) => (types[i] === TOKEN_NORMAL ? -10 + [...t].length : 0));
  return { tokens, types, scores };
}

// mulberry32: a small seeded PRNG; weights need no more than that.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Writer {
  constructor() {
    this.chunks = [];
    this.length = 0;
  }
  bytes(buf) {
    this.chunks.push(buf);
    this.length += buf.length;
  }
  u32(v) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.bytes(b);
  }
  i32(v) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.bytes(b);
  }
  u64(v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.bytes(b);
  }
  f32(v) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.bytes(b);
  }
  str(s) {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment) {
    const rem = this.length % alignment;
    if (rem) this.bytes(Buffer.alloc(alignment - rem));
  }
  buffer() {
    return Buffer.concat(this.chunks, this.length);
  }
}

function metadata(vocab) {
  const kv = [];
  const add = (key, type, value, elemType) => kv.push({ key, type, value, elemType });
  add("general.architecture", T_STRING, "llama");
  add("general.name", T_STRING, "fedai-tiny-random");
  add("general.alignment", T_UINT32, ALIGNMENT);
  add("llama.context_length", T_UINT32, N_CTX);
  add("llama.embedding_length", T_UINT32, N_EMBD);
  add("llama.block_count", T_UINT32, N_LAYER);
  add("llama.feed_forward_length", T_UINT32, N_FF);
  add("llama.attention.head_count", T_UINT32, N_HEAD);
  add("llama.attention.head_count_kv", T_UINT32, N_HEAD);
  add("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, 1e-5);
  add("llama.rope.dimension_count", T_UINT32, N_EMBD / N_HEAD);
  add("llama.rope.freq_base", T_FLOAT32, 10000);
  add("llama.vocab_size", T_UINT32, vocab.tokens.length);
  add("tokenizer.ggml.model", T_STRING, "llama");
  add("tokenizer.ggml.tokens", T_ARRAY, vocab.tokens, T_STRING);
  add("tokenizer.ggml.scores", T_ARRAY, vocab.scores, T_FLOAT32);
  add("tokenizer.ggml.token_type", T_ARRAY, vocab.types, T_INT32);
  add("tokenizer.ggml.unknown_token_id", T_UINT32, 0);
  add("tokenizer.ggml.bos_token_id", T_UINT32, 1);
  add("tokenizer.ggml.eos_token_id", T_UINT32, 2);
  add("tokenizer.ggml.add_bos_token", T_BOOL, true);
  add("tokenizer.ggml.add_eos_token", T_BOOL, false);
  return kv;
}

function writeValue(w, type, value) {
  switch (type) {
    case T_UINT32: return w.u32(value);
    case T_INT32: return w.i32(value);
    case T_FLOAT32: return w.f32(value);
    case T_BOOL: return w.bytes(Buffer.from([value ? 1 : 0]));
    case T_STRING: return w.str(value);
    default: throw new Error(`unsupported metadata type ${type}`);
  }
}

// The tensors in llama.cpp's naming; dims are ggml's ne (innermost first).
function tensors(vocab, seed) {
  const next = rng(seed);
  const nVocab = vocab.tokens.length;
  // Uniform in [-a, a] with standard deviation `std`.
  const random = (n, std) => {
    const a = std * Math.sqrt(3);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * a;
    return out;
  };
  const ones = (n) => new Float32Array(n).fill(1);
  const list = [];
  const add = (name, dims, data) => list.push({ name, dims, data });

  const embd = random(N_EMBD * nVocab, 0.5);
  for (let t = 0; t < nVocab; t++) embd[t * N_EMBD] = 8; // the dominant constant dimension
  add("token_embd.weight", [N_EMBD, nVocab], embd);
  for (let l = 0; l < N_LAYER; l++) {
    const p = `blk.${l}.`;
    add(p + "attn_norm.weight", [N_EMBD], ones(N_EMBD));
    add(p + "attn_q.weight", [N_EMBD, N_EMBD], random(N_EMBD * N_EMBD, 0.1));
    add(p + "attn_k.weight", [N_EMBD, N_EMBD], random(N_EMBD * N_EMBD, 0.1));
    add(p + "attn_v.weight", [N_EMBD, N_EMBD], random(N_EMBD * N_EMBD, 0.1));
    add(p + "attn_output.weight", [N_EMBD, N_EMBD], random(N_EMBD * N_EMBD, 0.05));
    add(p + "ffn_norm.weight", [N_EMBD], ones(N_EMBD));
    add(p + "ffn_gate.weight", [N_EMBD, N_FF], random(N_EMBD * N_FF, 0.1));
    add(p + "ffn_up.weight", [N_EMBD, N_FF], random(N_EMBD * N_FF, 0.1));
    add(p + "ffn_down.weight", [N_FF, N_EMBD], random(N_FF * N_EMBD, 0.05));
  }
  add("output_norm.weight", [N_EMBD], ones(N_EMBD));
  const out = random(N_EMBD * nVocab, 1.0);
  for (let t = 0; t < nVocab; t++) {
    const row = out.subarray(t * N_EMBD, (t + 1) * N_EMBD);
    if (vocab.types[t] === TOKEN_NORMAL) {
      row[0] = 0; // word pieces compete on the random dimensions only
    } else {
      row.fill(0);
      row[0] = -4; // far below every word piece, whatever the context
    }
  }
  add("output.weight", [N_EMBD, nVocab], out);
  return list;
}

// The whole file as a Buffer.
export function tinyGguf({ seed = 1 } = {}) {
  const vocab = vocabulary();
  const kv = metadata(vocab);
  const ts = tensors(vocab, seed);
  const w = new Writer();
  w.bytes(Buffer.from("GGUF", "ascii"));
  w.u32(3);
  w.u64(ts.length);
  w.u64(kv.length);
  for (const { key, type, value, elemType } of kv) {
    w.str(key);
    w.u32(type);
    if (type === T_ARRAY) {
      w.u32(elemType);
      w.u64(value.length);
      for (const v of value) writeValue(w, elemType, v);
    } else {
      writeValue(w, type, value);
    }
  }
  let offset = 0;
  for (const t of ts) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_F32);
    w.u64(offset);
    t.offset = offset;
    offset += t.data.byteLength;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  w.pad(ALIGNMENT);
  const dataStart = w.length;
  for (const t of ts) {
    w.pad(ALIGNMENT);
    if (w.length - dataStart !== t.offset) throw new Error(`misplaced tensor ${t.name}`);
    w.bytes(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return w.buffer();
}

// Writes the model to `path` (atomically: a reader never sees half a file).
export function writeTinyGguf(path, options = {}) {
  const buf = tinyGguf(options);
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, buf);
  renameSync(tmp, path);
  return buf.length;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let out = null;
  let seed = 1;
  let ok = true;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--seed") seed = Number(args[++i]);
    else if (args[i].startsWith("--") || out !== null) ok = false;
    else out = args[i];
  }
  if (!ok || !out || !Number.isInteger(seed) || seed < 0) {
    console.error("usage: node make_gguf.mjs OUT.gguf [--seed N]");
    process.exit(2);
  }
  const bytes = writeTinyGguf(out, { seed });
  console.log(`wrote ${out} (${bytes} bytes)`);
}
