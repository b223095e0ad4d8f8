// Binds an option table (core/util/option_table.h) to a subcommand: one flag per option, an
// optional --config TOML file whose keys are the option names, and FEDAI_<NAME> environment
// variables. Precedence: command line > environment > config file > default.
#pragma once

#include <toml++/toml.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agents/cli/cli.h"
#include "core/util/option_table.h"

namespace fedai::cli {

template <class Options>
class OptionBinding {
 public:
  OptionBinding(CLI::App& cmd, std::vector<OptionSpec<Options>> specs, Options defaults,
                std::string command)
      : specs_(std::move(specs)), defaults_(std::move(defaults)), command_(std::move(command)) {
    cmd.add_option("--config", config_, "TOML file of options (keys are the option names)")
        ->check(CLI::ExistingFile);
    cmd.add_flag("--print-config", print_config_,
                 "Print every option with its value as TOML (defaults, file, environment and "
                 "flags applied) and exit");
    for (const auto& spec : specs_) {
      std::string flag = "--" + spec.name;
      CLI::Option* opt = nullptr;
      switch (spec.type) {
        case OptionType::boolean:
          opt = cmd.add_flag(flag, bools_[spec.name], spec.help);
          break;
        case OptionType::integer_list:
        case OptionType::string_list:
          opt = cmd.add_option(flag, values_[spec.name], spec.help)->delimiter(',');
          break;
        default:
          opt = cmd.add_option(flag, values_[spec.name], spec.help)->expected(1);
          break;
      }
      if (spec.type == OptionType::integer) opt->type_name("N");
      std::string shown = spec.show(defaults_);
      opt->default_str(shown.empty() ? "\"\"" : shown);
      flags_[spec.name] = opt;
    }
  }

  // The options with everything applied. Throws CommandError saying where a bad value came from.
  Options resolve() const {
    Options o = defaults_;
    if (!config_.empty()) load_file(o);
    for (const auto& spec : specs_) {
      std::string env = env_name(spec.name);
      if (const char* v = std::getenv(env.c_str());
          v != nullptr && flags_.at(spec.name)->count() == 0) {
        std::vector<std::string> values = split(v, spec.type);
        if (auto st = set_fresh(o, spec, values); !st)
          throw CommandError(env + ": " + st.error().message, 2);
      }
    }
    for (const auto& spec : specs_) {
      const CLI::Option* flag = flags_.at(spec.name);
      if (flag->count() == 0) continue;
      std::vector<std::string> given =
          spec.type == OptionType::boolean
              ? std::vector<std::string>{bools_.at(spec.name) ? "true" : "false"}
              : values_.at(spec.name);
      if (auto st = set_fresh(o, spec, given); !st)
        throw CommandError("--" + spec.name + ": " + st.error().message, 2);
    }
    return o;
  }

  std::string to_toml(const Options& o) const { return options::to_toml(specs_, o); }

  // The options to run with; or, under --print-config, nullopt once they are printed.
  std::optional<Options> resolve_to_run() const {
    Options o = resolve();
    if (!print_config_) return o;
    std::cout << to_toml(o);
    return std::nullopt;
  }

 private:
  static std::string env_name(const std::string& name) {
    std::string out = "FEDAI_";
    for (char c : name)
      out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }
  static std::vector<std::string> split(const std::string& v, OptionType type) {
    if (type != OptionType::string_list && type != OptionType::integer_list) return {v};
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
      std::size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      if (comma > start) out.push_back(v.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  }
  // Lists replace: each source gives the whole list (a spec's set() assigns).
  Status set_fresh(Options& o, const OptionSpec<Options>& spec,
                   const std::vector<std::string>& values) const {
    return spec.set(o, values);
  }

  void load_file(Options& o) const {
    toml::table table;
    try {
      table = toml::parse_file(config_);
    } catch (const toml::parse_error& e) {
      throw CommandError(where(e.source()) + ": " + std::string(e.description()), 2);
    }
    for (const auto& [key, node] : table) {
      const OptionSpec<Options>* spec = options::find(specs_, key.str());
      if (spec == nullptr)
        throw CommandError(where(key.source()) + ": unknown key '" + std::string(key.str()) +
                               "' (the keys are the names of `fedai " + command_ + "`'s options)",
                           2);
      auto values = toml_values(*spec, node);
      if (auto st = spec->set(o, values); !st)
        throw CommandError(where(node.source()) + ": " + spec->name + ": " + st.error().message, 2);
    }
  }

  std::string where(const toml::source_region& at) const {
    return config_ + ":" + std::to_string(at.begin.line) + ":" + std::to_string(at.begin.column);
  }

  std::vector<std::string> toml_values(const OptionSpec<Options>& spec,
                                       const toml::node& node) const {
    auto fail = [&](const std::string& expected) {
      throw CommandError(where(node.source()) + ": " + spec.name + " must be " + expected, 2);
    };
    auto scalar = [&](const toml::node& n) -> std::string {
      switch (spec.type) {
        case OptionType::integer:
        case OptionType::integer_list:
          if (auto v = n.value<std::int64_t>(); v && n.is_integer() && *v >= 0)
            return std::to_string(*v);
          fail("a non-negative integer");
          break;
        case OptionType::boolean:
          if (auto v = n.value<bool>(); v && n.is_boolean()) return *v ? "true" : "false";
          fail("true or false");
          break;
        default:
          if (auto v = n.value<std::string>(); v && n.is_string()) return *v;
          fail("a string");
      }
      return {};
    };
    std::vector<std::string> out;
    bool list = spec.type == OptionType::integer_list || spec.type == OptionType::string_list;
    if (list && node.is_array()) {
      for (const toml::node& element : *node.as_array()) out.push_back(scalar(element));
    } else {
      out.push_back(scalar(node));
    }
    return out;
  }

  std::vector<OptionSpec<Options>> specs_;
  Options defaults_;
  std::string command_;
  std::string config_;
  bool print_config_ = false;
  std::map<std::string, CLI::Option*> flags_;
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, bool> bools_;
};

}  // namespace fedai::cli
