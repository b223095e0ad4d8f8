#include "core/util/metrics.h"

#include <gtest/gtest.h>

namespace fedai {
namespace {

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry m;
  m.counter("fedai_events_total", "Events by kind and outcome", {{"kind", "1"}, {"outcome", "ok"}})
      .inc(3);
  m.counter("fedai_events_total", "Events by kind and outcome",
            {{"kind", "1"}, {"outcome", "invalid"}})
      .inc();
  m.gauge("fedai_connections", "Open connections").set(2);
  std::string text = m.render();
  EXPECT_NE(text.find("# TYPE fedai_events_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fedai_events_total{kind=\"1\",outcome=\"ok\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("fedai_events_total{kind=\"1\",outcome=\"invalid\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("fedai_connections 2\n"), std::string::npos);
  // The same name and labels give the same series.
  EXPECT_EQ(&m.gauge("fedai_connections", ""), &m.gauge("fedai_connections", ""));
}

TEST(Metrics, EscapesLabelValues) {
  MetricsRegistry m;
  m.counter("x_total", "x", {{"reason", "a \"quoted\"\\ value\n"}}).inc();
  EXPECT_NE(m.render().find(R"(x_total{reason="a \"quoted\"\\ value\n"} 1)"), std::string::npos)
      << m.render();
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  MetricsRegistry m;
  auto& h = m.histogram("lat_seconds", "latency", {0.001, 0.01, 0.1});
  for (double v : {0.0005, 0.002, 0.003, 0.05, 5.0}) h.observe(v);
  std::string text = m.render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.01\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count 5\n"), std::string::npos);
  EXPECT_NEAR(h.sum(), 5.0555, 1e-6);
  EXPECT_GT(h.quantile(0.5), 0.001);
  EXPECT_LE(h.quantile(0.5), 0.01);
}

TEST(Metrics, TypeConflictIsAProgrammingError) {
  MetricsRegistry m;
  m.counter("a", "a");
  EXPECT_THROW(m.gauge("a", "a"), std::logic_error);
}

}  // namespace
}  // namespace fedai
