#include "core/util/metrics.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace fedai {
namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_labels(const Labels& labels, const std::string& extra_key = {},
                          const std::string& extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escape_label(v) + "\"";
  }
  if (!extra_key.empty()) {
    if (!first) out += ',';
    out += extra_key + "=\"" + extra_value + "\"";
  }
  return out + "}";
}

std::string format_double(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream ss;
  ss.precision(9);
  ss << v;
  return ss.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("histogram bounds must be sorted");
}

void Histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micros_.fetch_add(static_cast<std::uint64_t>(v * 1e6), std::memory_order_relaxed);
}

double Histogram::sum() const {
  return static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

std::uint64_t Histogram::cumulative(std::size_t i) const {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b <= i && b <= bounds_.size(); ++b)
    total += buckets_[b].load(std::memory_order_relaxed);
  return total;
}

double Histogram::quantile(double q) const {
  std::uint64_t n = cumulative(bounds_.size());
  if (n == 0) return 0;
  double rank = q * static_cast<double>(n);
  std::uint64_t below = 0;
  for (std::size_t b = 0; b <= bounds_.size(); ++b) {
    std::uint64_t in = buckets_[b].load(std::memory_order_relaxed);
    if (static_cast<double>(below + in) >= rank && in > 0) {
      if (b == bounds_.size()) return bounds_.empty() ? 0 : bounds_.back();
      double lo = b == 0 ? 0 : bounds_[b - 1], hi = bounds_[b];
      return lo + (hi - lo) * (rank - static_cast<double>(below)) / static_cast<double>(in);
    }
    below += in;
  }
  return bounds_.empty() ? 0 : bounds_.back();
}

std::vector<double> latency_buckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
}

MetricsRegistry::Series& MetricsRegistry::series_for(const std::string& name,
                                                     const std::string& help, Type type,
                                                     const Labels& labels) {
  auto [it, inserted] = families_.try_emplace(name, Family{type, help, {}});
  if (!inserted && it->second.type != type)
    throw std::logic_error("metric " + name + " registered with two types");
  for (auto& s : it->second.series)
    if (s.labels == labels) return s;
  return it->second.series.emplace_back(Series{labels, nullptr, nullptr, nullptr});
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& s = series_for(name, help, Type::counter, labels);
  if (!s.counter) s.counter = std::make_unique<Counter>();
  return *s.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& s = series_for(name, help, Type::gauge, labels);
  if (!s.gauge) s.gauge = std::make_unique<Gauge>();
  return *s.gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard lock(mutex_);
  Series& s = series_for(name, help, Type::histogram, labels);
  if (!s.histogram) s.histogram = std::make_unique<Histogram>(bounds);
  return *s.histogram;
}

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, family] : families_) {
    const char* type = family.type == Type::counter ? "counter"
                       : family.type == Type::gauge ? "gauge"
                                                    : "histogram";
    out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& s : family.series) {
      if (s.counter) {
        out += name + render_labels(s.labels) + " " + std::to_string(s.counter->value()) + "\n";
      } else if (s.gauge) {
        out += name + render_labels(s.labels) + " " + std::to_string(s.gauge->value()) + "\n";
      } else if (s.histogram) {
        const Histogram& h = *s.histogram;
        for (std::size_t i = 0; i <= h.bounds().size(); ++i) {
          std::string le = i < h.bounds().size() ? format_double(h.bounds()[i]) : "+Inf";
          out += name + "_bucket" + render_labels(s.labels, "le", le) + " " +
                 std::to_string(h.cumulative(i)) + "\n";
        }
        out += name + "_sum" + render_labels(s.labels) + " " + format_double(h.sum()) + "\n";
        out += name + "_count" + render_labels(s.labels) + " " + std::to_string(h.count()) + "\n";
      }
    }
  }
  return out;
}

}  // namespace fedai
