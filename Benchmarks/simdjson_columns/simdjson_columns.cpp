// simdjson_columns: the anchor of scripts/bench_jsonl.py (issue 16, "JSONL at memory speed").
//
// Parses a JSONL file of SPEC §1 step rows with simdjson's On-Demand API into the same columns
// RewardFlow's reader fills: group, trajectory, state, action (strings; action optional, default
// ""), step (int64), reward (double), active (bool, optional, default true). Prints one JSON
// object: rows, load_s (padded_string::load: the whole file into a padded buffer), parse_s
// (iterate_many over the buffer + columns), and checks (sums) so the two readers can be compared.
//
//   --no-intern   strings are parsed (unescaped into simdjson's string buffer) but only their
//                 lengths are kept (summed), so nothing is optimised away; step/reward/active
//                 columns are kept as vectors.
//   --intern      group, trajectory, state and action are each interned into their own
//                 std::unordered_map<std::string, int32_t> (ids in first-appearance order: equal
//                 strings get one id) and the id columns are kept.
//   --batch-size B  iterate_many's window in bytes (default 1,000,000 = simdjson's default);
//                 every line must fit in it.
//
// Build (Debian 12: apt-get install libsimdjson-dev, simdjson 3.0.1):
//   g++ -O3 -std=c++17 -pthread simdjson_columns.cpp -o simdjson_columns -lsimdjson
// Plain -O3 (no -march) is the portable build, but On-Demand is compiled from the header with the
// kernel the compile flags allow (SIMDJSON_BUILTIN_IMPLEMENTATION, printed as ondemand_kernel):
// baseline x86-64 gets the scalar `fallback`; add -march=native (icelake/haswell/...) for the real
// speed. scripts/bench_jsonl.py builds and runs both. -pthread defines _REENTRANT, which
// turns on SIMDJSON_THREADS_ENABLED: iterate_many then runs stage 1 of the next batch on a
// second thread (our reader uses both cores too).
//
// Exit 1 with a message naming the line on any row that is not an object, lacks a required
// field or has a field of the wrong type (no further SPEC checks: step gaps etc. are not ours).

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace simdjson;

#define VERSION_TEXT2(x) #x
#define VERSION_TEXT(x) VERSION_TEXT2(x)

namespace {

struct Interner {
  std::unordered_map<std::string, int32_t> map;
  std::string scratch;  // reused lookup key: no allocation per lookup once it has grown
  std::vector<int32_t> ids;
  int32_t intern(std::string_view s) {
    scratch.assign(s.data(), s.size());
    auto it = map.find(scratch);
    int32_t id;
    if (it != map.end()) {
      id = it->second;
    } else {
      id = static_cast<int32_t>(map.size());
      map.emplace(scratch, id);
    }
    ids.push_back(id);
    return id;
  }
};

[[noreturn]] void fail(size_t line, const char *field, const char *what) {
  std::fprintf(stderr, "simdjson_columns: line %zu, field '%s': %s\n", line, field, what);
  std::exit(1);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char **argv) {
  const char *path = nullptr;
  bool intern = false;
  size_t batch_size = ondemand::DEFAULT_BATCH_SIZE;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--intern")) intern = true;
    else if (!std::strcmp(argv[i], "--no-intern")) intern = false;
    else if (!std::strcmp(argv[i], "--batch-size") && i + 1 < argc) batch_size = std::strtoull(argv[++i], nullptr, 10);
    else if (argv[i][0] == '-' && argv[i][1] != 0) {
      std::fprintf(stderr, "usage: simdjson_columns [--intern|--no-intern] [--batch-size B] FILE\n");
      return 2;
    } else path = argv[i];
  }
  if (!path) {
    std::fprintf(stderr, "usage: simdjson_columns [--intern|--no-intern] [--batch-size B] FILE\n");
    return 2;
  }

  auto t0 = std::chrono::steady_clock::now();
  padded_string json;
  if (auto err = padded_string::load(path).get(json)) {
    std::fprintf(stderr, "simdjson_columns: %s: %s\n", path, error_message(err));
    return 1;
  }
  double load_s = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  ondemand::parser parser;
  ondemand::document_stream stream;
  if (auto err = parser.iterate_many(json, batch_size).get(stream)) {
    std::fprintf(stderr, "simdjson_columns: %s\n", error_message(err));
    return 1;
  }

  std::vector<int64_t> steps;
  std::vector<double> rewards;
  std::vector<uint8_t> actives;
  Interner groups, trajectories, states, actions;
  uint64_t string_bytes = 0;  // --no-intern: total length of the four string fields
  size_t line = 0;

  for (auto it = stream.begin(); it != stream.end(); ++it) {
    line++;
    ondemand::object obj;
    auto doc = *it;
    if (auto err = doc.get_object().get(obj)) fail(line, "", error_message(err));
    std::string_view group, trajectory, state, action;
    bool has_group = false, has_trajectory = false, has_state = false, has_step = false, has_reward = false;
    int64_t step = 0;
    double reward = 0;
    bool active = true;
    for (auto field_result : obj) {
      ondemand::field field;
      if (auto err = std::move(field_result).get(field)) fail(line, "", error_message(err));
      ondemand::raw_json_string key = field.key();
      // group/trajectory/state/action: the views point into the parser's string buffer, which the
      // next row reuses, so they are consumed (interned or measured) before the row ends.
      if (key == "group") {
        if (auto err = field.value().get_string().get(group)) fail(line, "group", error_message(err));
        has_group = true;
      } else if (key == "trajectory") {
        if (auto err = field.value().get_string().get(trajectory)) fail(line, "trajectory", error_message(err));
        has_trajectory = true;
      } else if (key == "step") {
        if (auto err = field.value().get_int64().get(step)) fail(line, "step", error_message(err));
        has_step = true;
      } else if (key == "state") {
        if (auto err = field.value().get_string().get(state)) fail(line, "state", error_message(err));
        has_state = true;
      } else if (key == "action") {
        if (auto err = field.value().get_string().get(action)) fail(line, "action", error_message(err));
      } else if (key == "reward") {
        if (auto err = field.value().get_double().get(reward)) fail(line, "reward", error_message(err));
        has_reward = true;
      } else if (key == "active") {
        if (auto err = field.value().get_bool().get(active)) fail(line, "active", error_message(err));
      }  // other fields (noop, state_key, ...) are skipped unparsed
    }
    if (!has_group) fail(line, "group", "missing");
    if (!has_trajectory) fail(line, "trajectory", "missing");
    if (!has_step) fail(line, "step", "missing");
    if (!has_state) fail(line, "state", "missing");
    if (!has_reward) fail(line, "reward", "missing");
    if (intern) {
      groups.intern(group);
      trajectories.intern(trajectory);
      states.intern(state);
      actions.intern(action);
    } else {
      string_bytes += group.size() + trajectory.size() + state.size() + action.size();
    }
    steps.push_back(step);
    rewards.push_back(reward);
    actives.push_back(active ? 1 : 0);
  }
  if (stream.truncated_bytes() != 0) fail(line + 1, "", "truncated document (or a line longer than --batch-size)");
  double parse_s = seconds_since(t1);

  // Checks over the kept columns (also keeps them alive past the timed region).
  double reward_sum = 0;
  int64_t step_sum = 0;
  size_t inactive = 0;
  for (size_t i = 0; i < steps.size(); i++) {
    reward_sum += rewards[i];
    step_sum += steps[i];
    inactive += actives[i] ? 0 : 1;
  }
  std::printf("{\"rows\": %zu, \"mode\": \"%s\", \"load_s\": %.6f, \"parse_s\": %.6f, ", steps.size(),
              intern ? "intern" : "no-intern", load_s, parse_s);
  if (intern) {
    std::printf("\"distinct_groups\": %zu, \"distinct_trajectories\": %zu, \"distinct_states\": %zu, "
                "\"distinct_actions\": %zu, ",
                groups.map.size(), trajectories.map.size(), states.map.size(), actions.map.size());
  } else {
    std::printf("\"distinct_states\": null, \"string_bytes\": %llu, ", static_cast<unsigned long long>(string_bytes));
  }
  std::printf("\"step_sum\": %lld, \"reward_sum\": %.17g, \"inactive\": %zu, \"batch_size\": %zu, "
              "\"threads\": %s, \"ondemand_kernel\": \"%s\", \"simdjson\": \"%s\"}\n",
              static_cast<long long>(step_sum), reward_sum, inactive, batch_size,
#ifdef SIMDJSON_THREADS_ENABLED
              "true",
#else
              "false",
#endif
              VERSION_TEXT(SIMDJSON_BUILTIN_IMPLEMENTATION), VERSION_TEXT(SIMDJSON_VERSION));
  return 0;
}
