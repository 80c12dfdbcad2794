// Authorize allocates nothing: checked by counting every operator new of this test
// binary (its own executable, so the other unit tests keep the sanitizers' own
// operator new) while Authorize runs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "tests/unit/domain_fixture.h"

#include "engine/domain/authorize.h"

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

// Every allocation goes through malloc and every release through free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace keytrail::domain {
namespace {

class AuthorizeAllocTest : public DomainTest {};

TEST_F(AuthorizeAllocTest, AuthorizeAllocatesNothing) {
  Given(CreateOrg{"Acme"});
  Given(CreateGroup{"scoped",
                    "",
                    "",
                    {{"namespace-viewer", {"ns-1", "ns-2"}}, {"subgraph-publisher", {"sg-1"}}}});
  Given(SetMemberGroups{"carol", {"scoped", "viewer"}});
  const Principal principals[] = {
      Principal::Key("k1", "developer"), Principal::Key("k2", "scoped", /*scim=*/true),
      Principal::Key("k3", "gone"),      Principal::Member("carol"),
      Principal::Member("nobody"),       Principal::Key("k4", "admin").OnBehalfOf("carol"),
  };
  const Resource resources[] = {Resource::Org(),
                                Resource::Namespace("ns-1"),
                                Resource::Graph("ns-2", "g"),
                                Resource::Subgraph("ns-9", "sg-1"),
                                Resource::Key("k1"),
                                Resource::Key("someone")};
  // The counter sees allocations.
  counting = true;
  void* probe = ::operator new(16);  // a call, unlike a new-expression, is never elided
  ::operator delete(probe);
  counting = false;
  ASSERT_EQ(allocations, 1u);

  size_t allowed = 0;
  allocations = 0;
  counting = true;
  for (const Principal& p : principals) {
    for (size_t a = 0; a < kActionCount; ++a) {
      for (const Resource& r : resources) {
        allowed += Authorize(state_, p, static_cast<Action>(a), r).allowed ? 1 : 0;
      }
    }
  }
  counting = false;
  EXPECT_EQ(allocations, 0u);
  EXPECT_GT(allowed, 0u);
}

}  // namespace
}  // namespace keytrail::domain
