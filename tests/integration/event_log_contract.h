// The EventLog contract suite. Every EventLog implementation instantiates it with a
// factory (see local_event_log_test.cc and kafka_event_log_test.cc).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "events/event_log.h"

namespace keytrail::testing {

// Makes logs for one test. Open() may be called several times; every log it returns
// views the same underlying storage (so a second Open() is a reopen).
class EventLogFactory {
 public:
  virtual ~EventLogFactory() = default;
  virtual std::unique_ptr<events::EventLog> Open() = 0;
};

struct EventLogContractParam {
  std::string name;
  std::function<std::unique_ptr<EventLogFactory>()> make_factory;
};

class EventLogContract : public ::testing::TestWithParam<EventLogContractParam> {
 protected:
  void SetUp() override { factory_ = GetParam().make_factory(); }
  std::unique_ptr<EventLogFactory> factory_;
};

}  // namespace keytrail::testing
