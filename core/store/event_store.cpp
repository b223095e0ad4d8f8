#include "core/store/event_store.h"

#include <algorithm>
#include <queue>
#include <unordered_set>

#include "core/nostr/coordinate.h"
#include "core/nostr/nip40.h"
#include "core/nostr/sha256.h"
#include "core/store/lmdb.h"

namespace fedai::store {
namespace {

using lmdb::Cursor;
using lmdb::Txn;

// ---- keys ----
//
// Every index key ends with inv(created_at) ‖ id, where inv(t) = 2^64-1-t big-endian: LMDB's
// ascending byte order is then NIP-01's order (newest first, lowest id first on ties), and a
// k-way merge of several index ranges compares those 40 bytes only.

constexpr std::size_t kSuffix = 40;

void put_order(std::string& key, UnixSeconds created_at, const EventId& id) {
  lmdb::put_be64(key, ~static_cast<std::uint64_t>(created_at));
  key.append(reinterpret_cast<const char*>(id.data()), 32);
}

std::string_view bytes(const PublicKey& pk) {
  return {reinterpret_cast<const char*>(pk.data()), 32};
}
std::string_view bytes(const EventId& id) {
  return {reinterpret_cast<const char*>(id.data()), 32};
}

// A variable-length value inside a key: length-prefixed so that one value is never a prefix of
// another's range; long values (over 128 bytes) are replaced by their hash.
void put_value(std::string& key, std::string_view value) {
  if (value.size() <= 128) {
    key += static_cast<char>(value.size());
    key += value;
  } else {
    key += '\xff';
    auto h = sha256(value);
    key.append(reinterpret_cast<const char*>(h.data()), 32);
  }
}

std::string seq_key(std::uint64_t seq) {
  std::string k;
  lmdb::put_be64(k, seq);
  return k;
}

bool is_index_letter(const std::string& name) {
  return name.size() == 1 &&
         ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
}

std::string coord_key(Kind kind, const PublicKey& pk, std::string_view d) {
  std::string k;
  lmdb::put_be16(k, kind);
  k += bytes(pk);
  put_value(k, d);
  return k;
}

// ---- records ----
//
// events: seq -> header ‖ JSON. The header answers the cheap filter conditions without parsing.
constexpr std::size_t kHeader = 8 + 2 + 32 + 32 + 8;

struct Header {
  UnixSeconds created_at;
  Kind kind;
  PublicKey pubkey;
  EventId id;
  UnixSeconds expiration;  // 0: none
  std::string_view json;
};

std::string make_record(const Event& e, UnixSeconds expiration, std::string_view json) {
  std::string r;
  r.reserve(kHeader + json.size());
  lmdb::put_be64(r, static_cast<std::uint64_t>(e.created_at));
  lmdb::put_be16(r, e.kind);
  r += bytes(e.pubkey);
  r += bytes(e.id);
  lmdb::put_be64(r, static_cast<std::uint64_t>(expiration));
  r += json;
  return r;
}

Header read_header(std::string_view r) {
  if (r.size() < kHeader) throw std::runtime_error("event store: corrupt record");
  Header h;
  h.created_at = static_cast<UnixSeconds>(lmdb::get_be64(r, 0));
  h.kind = lmdb::get_be16(r, 8);
  std::memcpy(h.pubkey.data(), r.data() + 10, 32);
  std::memcpy(h.id.data(), r.data() + 42, 32);
  h.expiration = static_cast<UnixSeconds>(lmdb::get_be64(r, 74));
  h.json = r.substr(kHeader);
  return h;
}

bool expired(const Header& h, UnixSeconds now) {
  return h.expiration != 0 && now >= h.expiration;
}

template <class T>
bool in_sorted(const std::optional<std::vector<T>>& list, const T& v) {
  return !list || std::binary_search(list->begin(), list->end(), v);
}

// The conditions a header can answer; tags need the event itself.
bool header_matches(const Filter& f, const Header& h) {
  if (f.since && h.created_at < *f.since) return false;
  if (f.until && h.created_at > *f.until) return false;
  return in_sorted(f.kinds, h.kind) && in_sorted(f.authors, h.pubkey) && in_sorted(f.ids, h.id);
}

bool full_match(const Filter& f, const Header& h) {
  if (!header_matches(f, h)) return false;
  if (f.tags.empty()) return true;
  auto e = parse_event(h.json);
  return e && matches(f, *e);
}

struct Candidate {
  std::string order;  // inv(created_at) ‖ id
  std::string_view json;
  bool operator<(const Candidate& o) const { return order < o.order; }
};

std::string order_of(const Header& h) {
  std::string k;
  put_order(k, h.created_at, h.id);
  return k;
}

class LmdbEventStore final : public EventStore {
 public:
  explicit LmdbEventStore(const EventStoreOptions& options)
      : options_(options),
        env_(lmdb::Env::Options{options.path, options.map_size, 32, 512, options.sync}) {
    Txn txn = Txn::begin_write(env_);
    events_ = txn.open_db("events");
    ids_ = txn.open_db("ids");
    by_created_ = txn.open_db("by_created");
    by_kind_ = txn.open_db("by_kind");
    by_author_ = txn.open_db("by_author");
    by_author_kind_ = txn.open_db("by_author_kind");
    by_tag_ = txn.open_db("by_tag");
    coords_ = txn.open_db("coords");
    expiry_ = txn.open_db("expiry");
    deleted_ids_ = txn.open_db("deleted_ids");
    deleted_coords_ = txn.open_db("deleted_coords");
    meta_ = txn.open_db("meta");
    txn.commit();
  }

  std::vector<WriteResult> write(std::span<const Event> events, UnixSeconds now,
                                 const Decided& decided) override {
    std::vector<WriteResult> results;
    results.reserve(events.size());
    Txn txn = Txn::begin_write(env_);
    std::uint64_t next = 0;
    if (auto v = txn.get(meta_, "next_seq")) next = lmdb::get_be64(*v);
    std::uint64_t start = next;
    std::string json;
    for (const Event& e : events) results.push_back(write_one(txn, e, now, next, json));
    if (next != start) {
      std::string v;
      lmdb::put_be64(v, next);
      txn.put(meta_, "next_seq", v);
    }
    if (decided) decided(results);
    txn.commit();
    return results;
  }

  QueryStats query(const std::vector<Filter>& filters, UnixSeconds now, const Sink& sink,
                   const QueryOptions& options) const override {
    QueryStats stats;
    Txn txn = Txn::begin_read(env_);
    std::vector<Candidate> all;
    for (const Filter& f : filters) {
      if (f.matches_nothing()) continue;
      std::uint32_t limit = effective_limit(f);
      if (limit == 0) continue;
      collect(txn, f, now, limit, options, stats, all);
    }
    std::sort(all.begin(), all.end());
    std::string_view last;
    for (const Candidate& c : all) {
      if (c.order == last) continue;  // the same event from two filters
      last = c.order;
      EventId id;
      std::memcpy(id.data(), c.order.data() + 8, 32);
      ++stats.returned;
      if (!sink(id, c.json)) break;
    }
    return stats;
  }

  std::uint64_t count(const std::vector<Filter>& filters, UnixSeconds now) const override {
    Txn txn = Txn::begin_read(env_);
    QueryStats stats;
    std::vector<Candidate> all;
    for (const Filter& f : filters) {
      if (f.matches_nothing()) continue;
      collect(txn, f, now, UINT32_MAX, QueryOptions{}, stats, all);
    }
    std::sort(all.begin(), all.end());
    auto end = std::unique(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
      return a.order == b.order;
    });
    return static_cast<std::uint64_t>(end - all.begin());
  }

  std::optional<std::string> get(const EventId& id) const override {
    Txn txn = Txn::begin_read(env_);
    auto seq = txn.get(ids_, bytes(id));
    if (!seq) return std::nullopt;
    auto rec = txn.get(events_, *seq);
    if (!rec) return std::nullopt;
    return std::string(read_header(*rec).json);
  }

  std::size_t purge_expired(UnixSeconds now) override {
    Txn txn = Txn::begin_write(env_);
    std::vector<std::string> due;
    {
      Cursor c(txn, expiry_);
      for (bool ok = c.first(); ok; ok = c.next()) {
        if (static_cast<UnixSeconds>(lmdb::get_be64(c.key())) > now) break;
        due.emplace_back(c.key().substr(8, 8));
      }
    }
    std::size_t removed = 0;
    for (const auto& seq : due) removed += remove(txn, seq) ? 1 : 0;
    txn.commit();
    return removed;
  }

  StoreStats stats() const override {
    Txn txn = Txn::begin_read(env_);
    StoreStats s;
    s.events = txn.entries(events_);
    s.deleted_ids = txn.entries(deleted_ids_);
    s.expiring = txn.entries(expiry_);
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(env_.get(), &info);
    mdb_env_stat(env_.get(), &st);
    s.map_used_bytes = static_cast<std::uint64_t>(info.me_last_pgno + 1) * st.ms_psize;
    return s;
  }

  std::uint32_t effective_limit(const Filter& f) const override {
    return std::min(f.limit.value_or(options_.default_limit), options_.max_limit);
  }

 private:
  WriteResult write_one(Txn& txn, const Event& e, UnixSeconds now, std::uint64_t& next,
                        std::string& json) {
    WriteResult r;
    auto refuse = [&](WriteStatus s, std::string message) {
      r.status = s;
      r.message = std::move(message);
      return r;
    };
    if (is_ephemeral(e.kind))
      return refuse(WriteStatus::rejected, "invalid: ephemeral events are not stored");
    auto exp = expiration_of(e);
    if (!exp) return refuse(WriteStatus::rejected, exp.error().to_string());
    UnixSeconds expiration = exp->value_or(0);
    if (*exp && now >= expiration)
      return refuse(WriteStatus::expired, "invalid: event has expired");
    if (txn.get(ids_, bytes(e.id)))
      return refuse(WriteStatus::duplicate, "duplicate: already have this event");
    if (auto by = txn.get(deleted_ids_, bytes(e.id)); by && *by == bytes(e.pubkey))
      return refuse(WriteStatus::deleted, "blocked: this event was deleted by its author");

    auto coord = coordinate_of(e);
    std::string ckey;
    if (coord) {
      ckey = coord_key(coord->kind, coord->pubkey, coord->d);
      if (auto at = txn.get(deleted_coords_, ckey);
          at && static_cast<UnixSeconds>(lmdb::get_be64(*at)) >= e.created_at)
        return refuse(WriteStatus::deleted, "blocked: this address was deleted by its author");
      if (auto seq = txn.get(coords_, ckey)) {
        std::string old_seq(*seq);
        Header old = read_header(*txn.get(events_, old_seq));
        bool old_wins =
            old.created_at > e.created_at || (old.created_at == e.created_at && old.id < e.id);
        if (old_wins && !expired(old, now))
          return refuse(WriteStatus::superseded, "duplicate: have a newer version of this event");
        EventId old_id = old.id;
        remove(txn, old_seq);
        r.removed.push_back(old_id);
      }
    }
    if (e.kind == 5) apply_deletion(txn, e, r.removed);

    std::string seq = seq_key(next++);
    json.clear();
    append_json(json, e);
    txn.put(events_, seq, make_record(e, expiration, json));
    txn.put(ids_, bytes(e.id), seq);
    for_each_index_key(e, [&](MDB_dbi dbi, const std::string& key) { txn.put(dbi, key, seq); });
    if (coord) txn.put(coords_, ckey, seq);
    if (expiration != 0) txn.put(expiry_, expiry_key(expiration, seq), "");
    return r;
  }

  // NIP-09: the author's own events only; a deletion can't delete a deletion.
  void apply_deletion(Txn& txn, const Event& del, std::vector<EventId>& removed) {
    for (const Tag& t : del.tags) {
      if (t.size() < 2) continue;
      if (t[0] == "e") {
        auto id = EventId::from_hex(t[1]);
        if (!id) continue;
        txn.put(deleted_ids_, bytes(*id), bytes(del.pubkey));
        auto seq = txn.get(ids_, bytes(*id));
        if (!seq) continue;
        std::string s(*seq);
        Header h = read_header(*txn.get(events_, s));
        if (h.pubkey == del.pubkey && h.kind != 5) {
          remove(txn, s);
          removed.push_back(h.id);
        }
      } else if (t[0] == "a") {
        auto c = Coordinate::parse(t[1]);
        if (!c || c->pubkey != del.pubkey) continue;
        std::string ckey = coord_key(c->kind, c->pubkey, c->d);
        UnixSeconds until = del.created_at;
        if (auto at = txn.get(deleted_coords_, ckey))
          until = std::max(until, static_cast<UnixSeconds>(lmdb::get_be64(*at)));
        std::string v;
        lmdb::put_be64(v, static_cast<std::uint64_t>(until));
        txn.put(deleted_coords_, ckey, v);
        if (auto seq = txn.get(coords_, ckey)) {
          std::string s(*seq);
          Header h = read_header(*txn.get(events_, s));
          if (h.created_at <= del.created_at) {
            remove(txn, s);
            removed.push_back(h.id);
          }
        }
      }
    }
  }

  static std::string expiry_key(UnixSeconds at, std::string_view seq) {
    std::string k;
    lmdb::put_be64(k, static_cast<std::uint64_t>(at));
    k += seq;
    return k;
  }

  template <class F>
  void for_each_index_key(const Event& e, F&& f) const {
    std::string key;
    key.reserve(128);
    auto with_suffix = [&](MDB_dbi dbi) {
      put_order(key, e.created_at, e.id);
      f(dbi, key);
      key.clear();
    };
    with_suffix(by_created_);
    lmdb::put_be16(key, e.kind);
    with_suffix(by_kind_);
    key += bytes(e.pubkey);
    with_suffix(by_author_);
    key += bytes(e.pubkey);
    lmdb::put_be16(key, e.kind);
    with_suffix(by_author_kind_);
    for (const Tag& t : e.tags) {
      if (t.size() < 2 || !is_index_letter(t[0])) continue;
      key += t[0];
      put_value(key, t[1]);
      with_suffix(by_tag_);
    }
  }

  // Removes the event stored under `seq` and every index entry pointing at it.
  bool remove(Txn& txn, const std::string& seq) {
    auto rec = txn.get(events_, seq);
    if (!rec) return false;
    Header h = read_header(*rec);
    auto e = parse_event(h.json);
    if (!e) throw std::runtime_error("event store: corrupt stored event");
    for_each_index_key(*e, [&](MDB_dbi dbi, const std::string& key) { txn.del(dbi, key); });
    txn.del(ids_, bytes(e->id));
    if (auto c = coordinate_of(*e)) {
      std::string ckey = coord_key(c->kind, c->pubkey, c->d);
      if (auto cur = txn.get(coords_, ckey); cur && *cur == seq) txn.del(coords_, ckey);
    }
    if (h.expiration != 0) txn.del(expiry_, expiry_key(h.expiration, seq));
    txn.del(events_, seq);
    return true;
  }

  // ---- queries ----

  struct Stream {
    Stream(const Txn& txn, MDB_dbi dbi, std::string key_prefix)
        : cursor(txn, dbi), prefix(std::move(key_prefix)) {}
    Cursor cursor;
    std::string prefix;
    bool valid = false;
    std::string_view suffix() const { return cursor.key().substr(prefix.size()); }
  };

  void collect(const Txn& txn, const Filter& f, UnixSeconds now, std::uint32_t limit,
               const QueryOptions& options, QueryStats& stats, std::vector<Candidate>& out) const {
    std::vector<Candidate> found;
    auto consider = [&](std::string_view seq) {
      auto rec = txn.get(events_, seq);
      if (!rec) return;
      Header h = read_header(*rec);
      if (expired(h, now) || !full_match(f, h)) return;
      found.push_back({order_of(h), h.json});
    };

    if (f.ids) {
      for (const EventId& id : *f.ids) {
        if (++stats.scanned > options.max_scanned) {
          stats.truncated = true;
          break;
        }
        if (auto seq = txn.get(ids_, bytes(id))) consider(*seq);
      }
      std::sort(found.begin(), found.end());
      if (found.size() > limit) found.resize(limit);
      out.insert(out.end(), found.begin(), found.end());
      return;
    }

    // One range per value of the most selective indexed condition.
    std::vector<std::unique_ptr<Stream>> streams;
    auto add = [&](MDB_dbi dbi, std::string prefix) {
      streams.push_back(std::make_unique<Stream>(txn, dbi, std::move(prefix)));
    };
    const TagFilter* tag = nullptr;
    for (const TagFilter& t : f.tags)
      if (!tag || t.values.size() < tag->values.size()) tag = &t;
    if (f.authors && f.kinds && f.authors->size() * f.kinds->size() <= 4096) {
      for (const auto& a : *f.authors)
        for (Kind k : *f.kinds) {
          std::string p(bytes(a));
          lmdb::put_be16(p, k);
          add(by_author_kind_, std::move(p));
        }
    } else if (f.authors) {
      for (const auto& a : *f.authors) add(by_author_, std::string(bytes(a)));
    } else if (tag) {
      for (const auto& v : tag->values) {
        std::string p(1, tag->letter);
        put_value(p, v);
        add(by_tag_, std::move(p));
      }
    } else if (f.kinds) {
      for (Kind k : *f.kinds) {
        std::string p;
        lmdb::put_be16(p, k);
        add(by_kind_, std::move(p));
      }
    } else {
      add(by_created_, "");
    }

    // Position every range at `until` and merge them in NIP-01 order.
    std::string start_suffix;
    lmdb::put_be64(start_suffix, ~static_cast<std::uint64_t>(f.until.value_or(kMaxCreatedAt)));
    std::uint64_t stop_inv = ~static_cast<std::uint64_t>(f.since.value_or(0));
    auto in_range = [&](Stream& s) {
      if (!s.cursor.key().starts_with(s.prefix) ||
          s.cursor.key().size() != s.prefix.size() + kSuffix)
        return false;
      return lmdb::get_be64(s.suffix()) <= stop_inv;
    };
    auto cmp = [](const Stream* a, const Stream* b) { return a->suffix() > b->suffix(); };
    std::priority_queue<Stream*, std::vector<Stream*>, decltype(cmp)> heap(cmp);
    for (auto& s : streams) {
      s->valid = s->cursor.seek(s->prefix + start_suffix) && in_range(*s);
      if (s->valid) heap.push(s.get());
    }
    std::string last;
    while (!heap.empty() && found.size() < limit) {
      Stream* s = heap.top();
      heap.pop();
      if (++stats.scanned > options.max_scanned) {
        stats.truncated = true;
        break;
      }
      if (s->suffix() != last) {  // two tag values of one event meet here
        last.assign(s->suffix());
        consider(s->cursor.value());
      }
      if (s->cursor.next() && in_range(*s)) heap.push(s);
    }
    out.insert(out.end(), found.begin(), found.end());
  }

  EventStoreOptions options_;
  lmdb::Env env_;
  MDB_dbi events_, ids_, by_created_, by_kind_, by_author_, by_author_kind_, by_tag_, coords_,
      expiry_, deleted_ids_, deleted_coords_, meta_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::open(const EventStoreOptions& options) {
  try {
    return std::unique_ptr<EventStore>(std::make_unique<LmdbEventStore>(options));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::error, e.what());
  }
}

std::string_view to_string(WriteStatus status) {
  switch (status) {
    case WriteStatus::stored:
      return "stored";
    case WriteStatus::duplicate:
      return "duplicate";
    case WriteStatus::superseded:
      return "superseded";
    case WriteStatus::deleted:
      return "deleted";
    case WriteStatus::expired:
      return "expired";
    case WriteStatus::rejected:
      return "rejected";
  }
  return "rejected";
}

}  // namespace fedai::store
