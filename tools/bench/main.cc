// keytrail_bench: the event backbone's benchmarks. Usage:
//   keytrail_bench [--seconds S] [--events N] [--keys N]
//                  [local-append|kafka-append|projector|verify|create|memory|memory-expiring|
//                   expiry-burst|expiry-steady|authorize|rebuild|audit-query|all]...
#include <CLI/CLI.hpp>

#include "tools/bench/sections.h"

int main(int argc, char** argv) {
  keytrail::bench::Args args;
  std::vector<std::string> sections = {"all"};
  CLI::App app{"keytrail benchmarks (JSON lines on stdout)"};
  app.add_option("--seconds", args.seconds, "measuring time per configuration")
      ->check(CLI::PositiveNumber);
  app.add_option("--events", args.events,
                 "events in the log for the projector, rebuild and audit-query sections")
      ->check(CLI::PositiveNumber);
  app.add_option("--keys", args.keys, "keys for the verify and memory sections")
      ->check(CLI::PositiveNumber);
  app.add_option("--expiry-keys", args.expiry_keys, "keys expiring together in expiry-burst")
      ->check(CLI::PositiveNumber);
  app.add_option("sections", sections,
                 "local-append, kafka-append, propagation, projector, verify, create, memory, "
                 "memory-expiring, expiry-burst, "
                 "expiry-steady, authorize, rebuild, audit-query or all")
      ->check(CLI::IsMember({"local-append", "kafka-append", "propagation", "projector", "verify",
                             "create", "memory", "memory-expiring", "expiry-burst", "expiry-steady",
                             "authorize", "rebuild", "audit-query", "all"}));
  CLI11_PARSE(app, argc, argv);

  int rc = 0;
  bool rebuild = false, audit_query = false;  // run once, after the others, on one data set
  for (const std::string& s : sections) {
    rebuild |= s == "all" || s == "rebuild";
    audit_query |= s == "all" || s == "audit-query";
    const bool all = s == "all";
    if (all || s == "local-append") rc |= keytrail::bench::RunLocalAppend(args);
    if (all || s == "kafka-append") rc |= keytrail::bench::RunKafkaAppend(args);
    if (all || s == "propagation") rc |= keytrail::bench::RunPropagation(args);
    if (all || s == "projector") rc |= keytrail::bench::RunProjector(args);
    for (const char* keys_section : {"verify", "create", "memory", "memory-expiring"}) {
      if (all || s == keys_section) rc |= keytrail::bench::RunKeys(args, keys_section);
    }
    for (const char* expiry_section : {"expiry-burst", "expiry-steady"}) {
      if (all || s == expiry_section) rc |= keytrail::bench::RunExpiry(args, expiry_section);
    }
    if (all || s == "authorize") rc |= keytrail::bench::RunAuthorize(args);
  }
  if (rebuild || audit_query) rc |= keytrail::bench::RunAudit(args, rebuild, audit_query);
  return rc;
}
