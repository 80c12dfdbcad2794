// The Given(events) / When(command) / Then(events or rejection) fixture of the domain
// tests (domain_test.cc, groups_test.cc, authorize_test.cc).
#pragma once

#include <gtest/gtest.h>

#include "tests/support/status_matchers.h"
#include "tests/support/test_time.h"

#include "engine/domain/decide.h"
#include "events/codec.h"

namespace keytrail::domain {

inline constexpr Micros kNow = testing::kTestNow;
inline constexpr Micros kHour = testing::kTestHour;

inline KeyId Id(uint8_t n) {
  KeyId id;
  id.bytes.fill(n);
  return id;
}

inline SecretHash Hash(uint8_t n) {
  SecretHash h;
  h.fill(n);
  return h;
}

inline CreateKey NewKey(uint8_t n, std::string name, std::string group = "ci") {
  CreateKey c;
  c.key_id = Id(n);
  c.name = std::move(name);
  c.group = std::move(group);
  c.secret_hash = Hash(n);
  c.hint = "kt_…abcd";
  c.created_by = "alice";
  return c;
}

class DomainTest : public ::testing::Test {
 protected:
  DomainTest() { state_.id = "acme"; }

  // Given: the command was accepted earlier; its events are folded into the state the
  // way the writer does it (encoded, decoded, evolved).
  void Given(const Command& command, Micros at = kNow) {
    auto decision = Decide(state_, command, at, options_);
    ASSERT_TRUE(std::holds_alternative<std::vector<NewEvent>>(decision))
        << std::get<Rejection>(decision).message;
    Fold(std::move(std::get<std::vector<NewEvent>>(decision)), at);
  }

  void Fold(std::vector<NewEvent> events, Micros at) {
    for (auto& e : events) {
      CommandContext context{.org = "acme", .actor_id = "alice", .command_id = "c"};
      const std::string bytes = events::Encode(Stamp(context, std::move(e), fb::EventId(1, 2), at));
      auto decoded = events::Decode(bytes);
      ASSERT_OK(decoded);
      ASSERT_OK(Evolve(state_, **decoded));
    }
  }

  void GivenOrgAndGroup() {
    Given(CreateOrg{"Acme"});
    Given(CreateGroup{"ci", "CI", ""});
  }

  // When: the decision for `command` at `at`.
  Decision When(const Command& command, Micros at = kNow) {
    return Decide(state_, command, at, options_);
  }

  // Then: exactly one event of payload type T; returns it (valid until the next Then).
  template <typename T>
  const T& ThenOne(Decision decision) {
    static const T empty{};
    last_ = std::move(decision);
    if (!std::holds_alternative<std::vector<NewEvent>>(last_)) {
      ADD_FAILURE() << "rejected: " << std::get<Rejection>(last_).message;
      return empty;
    }
    const auto& events = std::get<std::vector<NewEvent>>(last_);
    if (events.size() != 1 || events[0].payload.type != fb::PayloadUnionTraits<T>::enum_value) {
      ADD_FAILURE() << "expected one "
                    << fb::EnumNamePayload(fb::PayloadUnionTraits<T>::enum_value);
      return empty;
    }
    return *static_cast<const T*>(events[0].payload.value);
  }

  // Then: the accepted events, in order (valid until the next Then).
  const std::vector<NewEvent>& ThenEvents(Decision decision) {
    static const std::vector<NewEvent> none;
    last_ = std::move(decision);
    if (!std::holds_alternative<std::vector<NewEvent>>(last_)) {
      ADD_FAILURE() << "rejected: " << std::get<Rejection>(last_).message;
      return none;
    }
    return std::get<std::vector<NewEvent>>(last_);
  }

  static void ThenRejected(const Decision& decision, RejectionCode code) {
    ASSERT_TRUE(std::holds_alternative<Rejection>(decision)) << "accepted";
    EXPECT_EQ(RejectionCodeName(std::get<Rejection>(decision).code), RejectionCodeName(code))
        << std::get<Rejection>(decision).message;
  }

  static void ThenNoEvents(const Decision& decision) {
    ASSERT_TRUE(std::holds_alternative<std::vector<NewEvent>>(decision));
    EXPECT_TRUE(std::get<std::vector<NewEvent>>(decision).empty());
  }

  // The group `id` of the state (deleted or not); fails the test if there is none.
  const GroupState& GroupOf(std::string_view id) {
    static const GroupState none;
    auto it = state_.groups.find(id);
    if (it == state_.groups.end()) {
      ADD_FAILURE() << "no group " << id;
      return none;
    }
    return it->second;
  }

  OrgState state_;
  DomainOptions options_;
  Decision last_;
};

}  // namespace keytrail::domain
