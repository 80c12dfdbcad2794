// The test doubles pass the contracts of what they stand in for: MemoryEventLog runs the
// EventLog contract suite, like the local and Kafka logs.
#include "tests/support/memory_event_log.h"

#include "tests/integration/event_log_contract.h"

namespace keytrail::testing {
namespace {

class MemoryFactory final : public EventLogFactory {
 public:
  std::unique_ptr<events::EventLog> Open() override {
    return std::make_unique<MemoryEventLog>(storage_);
  }

 private:
  std::shared_ptr<MemoryEventLog::Storage> storage_ = std::make_shared<MemoryEventLog::Storage>(8);
};

INSTANTIATE_TEST_SUITE_P(Memory, EventLogContract,
                         ::testing::Values(EventLogContractParam{
                             "memory", [] { return std::make_unique<MemoryFactory>(); }}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keytrail::testing
