// Forwarded requests between nodes carry a proof made with the cluster's secret on the
// credentials stream (server/node_proof.h); a request without one, or with one for
// another request, node or minute, is a client's.
#include "server/node_proof.h"

#include <gtest/gtest.h>

#include "events/local_event_log.h"
#include "tests/support/status_matchers.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_time.h"

namespace keytrail::server {
namespace {

class NodeProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = events::LocalEventLog::Open({.path = dir_.path(), .partitions = 2});
    ASSERT_OK(opened);
    log_ = std::move(opened).value();
    auto store = CredentialStore::Open(*log_, clock_);
    ASSERT_OK(store);
    credentials_ = std::move(store).value();
  }

  HttpRequest Forwarded(const std::string& proof, std::string node = "node-a") {
    HttpRequest request;
    request.method = "POST";
    request.target = "/v1/sessions";
    request.body = R"({"org":"default"})";
    request.headers = {{"keytrail-forwarded-by", std::move(node)},
                       {std::string(kForwardedProofHeader), proof}};
    return request;
  }

  testing::TempDir dir_;
  FakeClock clock_{testing::kTestNow};
  std::unique_ptr<events::LocalEventLog> log_;
  std::unique_ptr<CredentialStore> credentials_;
};

TEST_F(NodeProofTest, AProofHoldsForItsRequestNodeAndMinuteOnly) {
  auto a = NodeProof::Open(*credentials_, clock_);
  ASSERT_OK(a);
  auto b = NodeProof::Open(*credentials_, clock_);  // another node: the same secret, no new one
  ASSERT_OK(b);
  const std::string proof = (*a)->Sign("node-a", "POST", "/v1/sessions", R"({"org":"default"})");
  EXPECT_TRUE((*b)->Verify(Forwarded(proof)));

  EXPECT_FALSE((*b)->Verify(Forwarded(proof, "node-b")));  // another node's name
  HttpRequest other_body = Forwarded(proof);
  other_body.body = R"({"org":"other"})";
  EXPECT_FALSE((*b)->Verify(other_body));
  HttpRequest other_target = Forwarded(proof);
  other_target.target = "/v1/leaks";
  EXPECT_FALSE((*b)->Verify(other_target));
  EXPECT_FALSE((*b)->Verify(Forwarded("")));
  EXPECT_FALSE((*b)->Verify(Forwarded("12345.deadbeef")));
  HttpRequest no_proof = Forwarded(proof);
  no_proof.headers.pop_back();
  EXPECT_FALSE((*b)->Verify(no_proof));

  clock_.Advance(61 * testing::kTestSecond);  // replayed a minute later
  EXPECT_FALSE((*b)->Verify(Forwarded(proof)));
}

TEST_F(NodeProofTest, TheSecretStaysOnTheCredentialsStream) {
  auto proof = NodeProof::Open(*credentials_, clock_);
  ASSERT_OK(proof);
  auto secret = credentials_->Find("keytrail.cluster", "keytrail.cluster.forwarding");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->kind, CredentialKind::kClusterSecret);
  EXPECT_GE(secret->hash.size(), 40u);
  // A signature does not contain the secret.
  EXPECT_EQ((*proof)->Sign("n", "GET", "/", "").find(secret->hash), std::string::npos);
}

}  // namespace
}  // namespace keytrail::server
