// The authorize benchmark: domain::Authorize in process, one thread, over an org with
// 100 groups (so the group lookup is not trivially cached) and these cases:
//   key-unscoped-allow   a developer key, graph:read on a graph (org-level rule)
//   key-fast-deny        a viewer key, graph:write (refused by the group's bitset)
//   key-scoped-allow     a key whose group has 5 scoped rules of 20 ids, hit in the last
//   key-scoped-deny      the same key, an id no rule lists
//   member-3-groups      a member in 3 groups, allowed by the last (groups are sorted)
//   on-behalf-of         an admin key acting for a developer member
// Reports ops/s; Authorize allocates nothing, so this is lookups and bit tests.
#include <atomic>

#include "engine/domain/authorize.h"
#include "engine/domain/decide.h"
#include "events/codec.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/sections.h"

namespace keytrail::bench {
namespace {

using namespace keytrail::domain;

constexpr Micros kNow = 1'767'225'600'000'000;

// Applies `command` to `state` the way the writer does (decide, encode, decode, evolve).
bool Apply(OrgState& state, const Command& command) {
  Decision decision = Decide(state, command, kNow, {});
  auto* events = std::get_if<std::vector<NewEvent>>(&decision);
  if (events == nullptr) {
    fmt::print(stderr, "authorize bench: setup refused: {}\n",
               std::get<Rejection>(decision).message);
    return false;
  }
  CommandContext context{.org = state.id, .actor_id = "bench"};
  for (NewEvent& e : *events) {
    const std::string bytes = events::Encode(Stamp(context, std::move(e), fb::EventId(1, 1), kNow));
    auto decoded = events::Decode(bytes);
    if (!decoded.ok() || !Evolve(state, **decoded).ok()) return false;
  }
  return true;
}

bool SetUp(OrgState& state) {
  state.id = "bench";
  if (!Apply(state, CreateOrg{"bench"})) return false;
  for (int i = 0; i < 100; ++i) {
    if (!Apply(state, CreateGroup{fmt::format("team-{:03}", i),
                                  "",
                                  "",
                                  {{"graph-viewer", {fmt::format("g-{}", i)}}}})) {
      return false;
    }
  }
  std::vector<RuleSpec> scoped;
  for (const char* role : {"namespace-viewer", "graph-admin", "subgraph-admin", "subgraph-checker",
                           "subgraph-publisher"}) {
    RuleSpec rule{role, {}};
    for (int i = 0; i < 20; ++i) rule.resources.push_back(fmt::format("{}-{:02}", role, i));
    scoped.push_back(std::move(rule));
  }
  return Apply(state, CreateGroup{"scoped", "", "", scoped}) &&
         Apply(state, CreateGroup{"writers", "", "", {{"graph-admin", {}}}}) &&
         Apply(state, SetMemberGroups{"carol", {"team-001", "team-002", "writers"}}) &&
         Apply(state, SetMemberGroups{"dave", {"developer"}});
}

template <typename Fn>
void Measure(const Args& args, const char* metric, Fn call) {
  size_t allowed = 0, ops = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < args.seconds) {
    for (int i = 0; i < 10000; ++i) allowed += call() ? 1 : 0;
    ops += 10000;
    elapsed = SecondsSince(start);
  }
  static std::atomic<size_t> sink;
  sink += allowed;
  Report("authorize", metric, static_cast<double>(ops) / elapsed, "ops/s");
}

}  // namespace

int RunAuthorize(const Args& args) {
  OrgState state;
  if (!SetUp(state)) return 1;
  const Resource graph = Resource::Graph("ns", "g-1");
  const Resource hit = Resource::Subgraph("ns", "subgraph-publisher-19");
  const Resource miss = Resource::Subgraph("ns", "nope");
  const Principal developer = Principal::Key("k1", "developer");
  const Principal viewer = Principal::Key("k2", "viewer");
  const Principal scoped = Principal::Key("k3", "scoped");
  const Principal carol = Principal::Member("carol");
  const Principal admin_for_dave = Principal::Key("k4", "admin").OnBehalfOf("dave");
  Measure(args, "key-unscoped-allow",
          [&] { return Authorize(state, developer, Action::kGraphRead, graph).allowed; });
  Measure(args, "key-fast-deny",
          [&] { return Authorize(state, viewer, Action::kGraphWrite, graph).allowed; });
  Measure(args, "key-scoped-allow",
          [&] { return Authorize(state, scoped, Action::kSubgraphPublish, hit).allowed; });
  Measure(args, "key-scoped-deny",
          [&] { return Authorize(state, scoped, Action::kSubgraphPublish, miss).allowed; });
  Measure(args, "member-3-groups",
          [&] { return Authorize(state, carol, Action::kGraphWrite, graph).allowed; });
  Measure(args, "on-behalf-of", [&] {
    return Authorize(state, admin_for_dave, Action::kKeysCreate, Resource::Org()).allowed;
  });
  return 0;
}

}  // namespace keytrail::bench
