// keytrail_bench: the event backbone's benchmarks. Usage:
//   keytrail_bench [--seconds S] [--events N] [local-append|kafka-append|projector|all]...
#include <CLI/CLI.hpp>

#include "tools/bench/sections.h"

int main(int argc, char** argv) {
  keytrail::bench::Args args;
  std::vector<std::string> sections = {"all"};
  CLI::App app{"keytrail event backbone benchmarks (JSON lines on stdout)"};
  app.add_option("--seconds", args.seconds, "measuring time per configuration")
      ->check(CLI::PositiveNumber);
  app.add_option("--events", args.events, "events in the log for the projector section")
      ->check(CLI::PositiveNumber);
  app.add_option("sections", sections, "local-append, kafka-append, projector or all")
      ->check(CLI::IsMember({"local-append", "kafka-append", "projector", "all"}));
  CLI11_PARSE(app, argc, argv);

  int rc = 0;
  for (const std::string& s : sections) {
    const bool all = s == "all";
    if (all || s == "local-append") rc |= keytrail::bench::RunLocalAppend(args);
    if (all || s == "kafka-append") rc |= keytrail::bench::RunKafkaAppend(args);
    if (all || s == "projector") rc |= keytrail::bench::RunProjector(args);
  }
  return rc;
}
