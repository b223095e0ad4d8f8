// Benchmarks of the Nostr core: the verify pipeline against raw libsecp256k1, hashing, signing.
//
// The goal is a verify pipeline (parse, id, signature) at >= 0.9x of raw BIP-340
// verification of the same events; scripts/bench prints that ratio from these figures.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <array>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/nostr/event.h"
#include "core/nostr/keys.h"
#include "core/nostr/nip44.h"
#include "core/nostr/sha256.h"

namespace {

using namespace fedai;

// ~400-byte events like the ones a relay sees: a paragraph of content and a few tags.
struct Corpus {
  std::vector<Event> events;
  std::vector<std::string> json;
  std::vector<std::string> canonical;
};

// Events by `authors` keys: 16, as a relay or an agent sees the same authors again and again,
// or 1,024, every event by another author (no key is parsed twice in a row).
Corpus make_corpus(int authors) {
  Corpus out;
  std::mt19937 rng(7);
  std::vector<Keypair> keys;
  for (int i = 0; i < authors; ++i) keys.push_back(Keypair::generate());
  const std::string words[] = {"relay", "auction", "node",      "router", "bid",   "award",
                               "model", "tokens",  "lightning", "sats",   "nostr", "inference"};
  for (int i = 0; i < 1024; ++i) {
    std::string content;
    while (content.size() < 200) content += words[rng() % 12] + " ";
    Tags tags = {
        {"e", std::string(64, 'a')}, {"p", keys[rng() % 16].public_key().hex()}, {"t", "fedai"}};
    Event e = sign_event({1, 1700000000 + i, tags, content},
                         keys[authors == 1024 ? i : static_cast<int>(rng() % 16)]);
    out.json.push_back(to_json(e));
    out.canonical.push_back(
        canonical_serialization(e.pubkey, e.created_at, e.kind, e.tags, e.content));
    out.events.push_back(std::move(e));
  }
  return out;
}

const Corpus& corpus() {
  static Corpus c = make_corpus(16);
  return c;
}

const Corpus& distinct_authors() {
  static Corpus c = make_corpus(1024);
  return c;
}

void BM_RawSecp256k1Verify(benchmark::State& state) {
  const auto& c = corpus();
  const auto* ctx = secp_context();
  std::size_t i = 0;
  for (auto _ : state) {
    const Event& e = c.events[i++ & 1023];
    secp256k1_xonly_pubkey pk;
    bool ok = secp256k1_xonly_pubkey_parse(ctx, &pk, e.pubkey.data()) == 1 &&
              secp256k1_schnorrsig_verify(ctx, e.sig.data(), e.id.data(), 32, &pk) == 1;
    if (!ok) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSecp256k1Verify);

void BM_VerifyPipeline(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto e = parse_verified_event(c.json[i++ & 1023]);
    if (!e) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.json[0].size()));
}
BENCHMARK(BM_VerifyPipeline);

// The same with every event by another author: the parsed-key cache never hits.
void BM_VerifyPipelineDistinctAuthors(benchmark::State& state) {
  const auto& c = distinct_authors();
  std::size_t i = 0;
  for (auto _ : state) {
    auto e = parse_verified_event(c.json[i++ & 1023]);
    if (!e) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyPipelineDistinctAuthors);

void BM_ParseEvent(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto e = parse_event(c.json[i++ & 1023]);
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseEvent);

void BM_ComputeEventId(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto id = compute_event_id(c.events[i++ & 1023]);
    benchmark::DoNotOptimize(id);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ComputeEventId);

void BM_Sha256Event(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = sha256(c.canonical[i++ & 1023]);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(c.canonical[0].size()));
}
BENCHMARK(BM_Sha256Event);

void BM_Sha256EventOneShotOpenSSL(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  unsigned char out[32];
  for (auto _ : state) {
    const std::string& s = c.canonical[i++ & 1023];
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Sha256EventOneShotOpenSSL);

// NIP-44's MAC over a 1 KiB payload: ours (RFC 2104 on stack SHA-256 contexts, nothing
// allocated) against OpenSSL's one-shot HMAC(), which fetches HMAC and SHA-256 by name and
// allocates its contexts on every call.
void BM_HmacSha256Payload(benchmark::State& state) {
  const std::string data(1024 + 32, 'x');
  const std::array<std::uint8_t, 32> key{1, 2, 3};
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(data.data()),
                                      data.size());
  for (auto _ : state) {
    auto mac = hmac_sha256(key, bytes);
    benchmark::DoNotOptimize(mac);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HmacSha256Payload);

void BM_HmacSha256PayloadOneShotOpenSSL(benchmark::State& state) {
  const std::string data(1024 + 32, 'x');
  const std::array<std::uint8_t, 32> key{1, 2, 3};
  unsigned char out[32];
  unsigned int len = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HmacSha256PayloadOneShotOpenSSL);

void BM_SignEvent(benchmark::State& state) {
  const auto& c = corpus();
  Keypair keys = Keypair::generate();
  std::size_t i = 0;
  for (auto _ : state) {
    const Event& e = c.events[i++ & 1023];
    auto signed_event = sign_event({e.kind, e.created_at, e.tags, e.content}, keys);
    benchmark::DoNotOptimize(signed_event);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SignEvent);

void BM_SerializeEvent(benchmark::State& state) {
  const auto& c = corpus();
  std::size_t i = 0;
  for (auto _ : state) {
    auto s = to_json(c.events[i++ & 1023]);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SerializeEvent);

const nip44::ConversationKey& bench_conversation_key() {
  static nip44::ConversationKey key = [] {
    Keypair a = Keypair::generate(), b = Keypair::generate();
    return *nip44::conversation_key(a.secret_key(), b.public_key());
  }();
  return key;
}

void BM_Nip44Encrypt1KiB(benchmark::State& state) {
  const std::string plaintext(1024, 'x');
  for (auto _ : state) {
    auto payload = nip44::encrypt(plaintext, bench_conversation_key());
    benchmark::DoNotOptimize(payload);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_Nip44Encrypt1KiB);

void BM_Nip44Decrypt1KiB(benchmark::State& state) {
  const std::string payload = *nip44::encrypt(std::string(1024, 'x'), bench_conversation_key());
  for (auto _ : state) {
    auto plaintext = nip44::decrypt(payload, bench_conversation_key());
    if (!plaintext) state.SkipWithError("decrypt failed");
    benchmark::DoNotOptimize(plaintext);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1024);
}
BENCHMARK(BM_Nip44Decrypt1KiB);

// The ECDH + HKDF-extract a peer pays once per counterparty (cacheable).
void BM_Nip44ConversationKey(benchmark::State& state) {
  Keypair a = Keypair::generate(), b = Keypair::generate();
  for (auto _ : state) {
    auto key = nip44::conversation_key(a.secret_key(), b.public_key());
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Nip44ConversationKey);

}  // namespace

BENCHMARK_MAIN();
