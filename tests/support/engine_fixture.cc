#include "tests/support/engine_fixture.h"

namespace keytrail::testing {

void EngineFixture::GivenOrg(const std::string& org, std::initializer_list<std::string> groups) {
  auto created = engine().Execute(AsMember("alice", org), domain::CreateOrg{org});
  ASSERT_OK(created);
  ASSERT_EQ(created->kind, CommandOutcome::Kind::kApplied);
  for (const std::string& group : groups) {
    auto made = engine().Execute(AsMember("alice", org), domain::CreateGroup{group, "", ""});
    ASSERT_OK(made);
    ASSERT_EQ(made->kind, CommandOutcome::Kind::kApplied) << group;
  }
}

}  // namespace keytrail::testing
