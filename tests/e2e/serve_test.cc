// keytrail serve, driven as a user would: the real binary on a free port with a temp
// data dir, over real HTTP/1.1 sockets; stopped with SIGTERM and restarted.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/e2e/api_client.h"
#include "tests/e2e/serve_process.h"
#include "tests/support/http_client.h"
#include "tests/support/run_command.h"
#include "tests/support/temp_dir.h"

namespace keytrail::testing {
namespace {

using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// The README walkthrough against a running server: create -> verify -> rotate (both
// tokens verify during the grace) -> revoke (neither verifies) -> list. Returns every
// token it saw.
std::vector<std::string> Walkthrough(const std::string& address, const std::string& admin) {
  std::vector<std::string> tokens;
  Api api(address, admin);
  Api anonymous(address, "");
  EXPECT_EQ(anonymous.Call("GET", "/healthz").first, 200);
  EXPECT_EQ(anonymous.Call("GET", "/readyz").first, 200);

  // Create.
  auto [status, key] = api.Call("POST", "/v1/orgs/default/keys",
                                R"({"name": "ci deploy", "group": "developer", "expires": "30d"})");
  EXPECT_EQ(status, 201) << key.dump();
  if (status != 201) return tokens;
  const std::string id = key["id"], token = key["token"];
  EXPECT_EQ(key["status"], "active");
  EXPECT_FALSE(key["expires_at"].is_null());
  // Verify.
  auto [vs, verdict] = anonymous.Call("POST", "/v1/verify", json{{"key", token}}.dump());
  EXPECT_EQ(vs, 200);
  EXPECT_EQ(verdict["valid"], true);
  EXPECT_EQ(verdict["key_id"], id);
  EXPECT_EQ(verdict["org"], "default");
  EXPECT_EQ(verdict["group"], "developer");
  // Rotate with a grace: old and new both verify.
  auto [rs, rotated] =
      api.Call("POST", "/v1/orgs/default/keys/" + id + "/rotate", R"({"grace": "1h"})");
  EXPECT_EQ(rs, 200) << rotated.dump();
  if (rs != 200) return tokens;
  const std::string new_token = rotated["token"];
  EXPECT_FALSE(rotated["previous_valid_until"].is_null());
  EXPECT_EQ(anonymous.Call("POST", "/v1/verify", json{{"key", token}}.dump()).second["valid"],
            true);
  EXPECT_EQ(anonymous.Call("POST", "/v1/verify", json{{"key", new_token}}.dump()).second["valid"],
            true);
  // Revoke: neither verifies.
  auto [revs, revoked] =
      api.Call("POST", "/v1/orgs/default/keys/" + id + "/revoke", R"({"reason": "rotated out"})");
  EXPECT_EQ(revs, 200) << revoked.dump();
  EXPECT_EQ(revoked["status"], "revoked");
  for (const std::string& t : {token, new_token}) {
    json v = anonymous.Call("POST", "/v1/verify", json{{"key", t}}.dump()).second;
    EXPECT_EQ(v["valid"], false);
    EXPECT_EQ(v["reason"], "revoked");
  }
  // List.
  auto [ls, list] = api.Call("GET", "/v1/orgs/default/keys");
  EXPECT_EQ(ls, 200);
  EXPECT_EQ(list["keys"].size(), 2u);
  EXPECT_TRUE(list["next_page_token"].is_null());
  auto [fs, revoked_only] = api.Call("GET", "/v1/orgs/default/keys?status=revoked");
  EXPECT_EQ(fs, 200);
  if (revoked_only["keys"].size() != 1u) {
    ADD_FAILURE() << revoked_only.dump();
    return tokens;
  }
  EXPECT_EQ(revoked_only["keys"][0]["id"], id);
  EXPECT_FALSE(revoked_only["keys"][0]["last_rotated_at"].is_null());
  // Metrics saw it all.
  const std::string metrics = anonymous.Raw("GET", "/metrics").body;
  EXPECT_NE(metrics.find("keytrail_verify_total{reason=\"revoked\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("route=\"/v1/orgs/{org}/keys/{id}/rotate\",status=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("keytrail_scheduler_pending_timers"), std::string::npos);
  EXPECT_NE(metrics.find("keytrail_command_duration_seconds_count "), std::string::npos);
  EXPECT_NE(metrics.find("keytrail_log_append_duration_seconds_bucket{le="), std::string::npos);
  EXPECT_NE(metrics.find("keytrail_projector_lag_events{partition=\"0\"} 0"), std::string::npos)
      << metrics;

  tokens = {token, new_token};
  return tokens;
}

class ServeTest : public ::testing::Test {
 protected:
  std::string DataDir() const { return dir_.path() + "/data"; }
  std::string TokenFile() const { return dir_.path() + "/bootstrap-token"; }
  TempDir dir_;
};

TEST_F(ServeTest, BootstrapsOnceAndWalksThroughTheKeyLifecycle) {
  ServeProcess server(DataDir(), {"--bootstrap-token-file", TokenFile()});
  ASSERT_TRUE(server.started());
  // The bootstrap key is in the 0600 file only: stdout says where, never what; so is the
  // first admin member's invitation, in FILE.invite.
  ASSERT_EQ(server.banner().size(), 2u);
  EXPECT_NE(server.banner()[0].find(TokenFile()), std::string::npos) << server.banner()[0];
  EXPECT_EQ(server.banner()[0].find("kt_"), std::string::npos) << "the token is on stdout";
  EXPECT_NE(server.banner()[1].find(TokenFile() + ".invite"), std::string::npos)
      << server.banner()[1];
  EXPECT_EQ(server.banner()[1].find("#"), std::string::npos) << "the invitation is on stdout";
  const std::string invite = ReadFile(TokenFile() + ".invite");
  EXPECT_TRUE(invite.starts_with("http://" + server.address() + "/console/invite#default."))
      << "the invitation file holds its link";
  struct stat invite_stat {};
  ASSERT_EQ(::stat((TokenFile() + ".invite").c_str(), &invite_stat), 0);
  EXPECT_EQ(invite_stat.st_mode & 0777, 0600u);
  std::string admin = ReadFile(TokenFile());
  ASSERT_TRUE(admin.ends_with("\n"));
  admin.pop_back();
  EXPECT_TRUE(admin.starts_with("kt_"));
  struct stat st {};
  ASSERT_EQ(stat(TokenFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);

  const std::vector<std::string> tokens = Walkthrough(server.address(), admin);
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(Exited(server.Stop()), 0);

  // The log: JSON lines only, never a secret.
  const std::string log = ReadFile(server.log_path());
  std::istringstream lines(log);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
  }
  EXPECT_GT(count, 5);
  // Commands are logged at info level with their route; verify only at debug level.
  EXPECT_NE(log.find("/v1/orgs/{org}/keys/{id}/rotate"), std::string::npos);
  EXPECT_EQ(log.find("\"route\":\"/v1/verify\""), std::string::npos);
  for (const std::string& secret : {admin, tokens[0], tokens[1]}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "a token is in the log";
    EXPECT_EQ(log.find(secret.substr(3, 40)), std::string::npos) << "part of a token is in the log";
  }
  EXPECT_NE(log.find("\"msg\":\"stopped\""), std::string::npos);
}

TEST_F(ServeTest, ABootstrapTokenFileThatIsASymlinkIsRefused) {
  const std::string target = dir_.path() + "/elsewhere";
  { std::ofstream(target) << ""; }
  ASSERT_EQ(::symlink(target.c_str(), TokenFile().c_str()), 0);
  ServeProcess server(DataDir(), {"--bootstrap-token-file", TokenFile()});
  EXPECT_FALSE(server.started());
  EXPECT_EQ(Exited(server.Stop()), 3);
  EXPECT_EQ(ReadFile(target), "") << "a token went through the symlink";
  EXPECT_NE(ReadFile(server.log_path()).find("symbolic link"), std::string::npos);
}

TEST_F(ServeTest, BadInputGetsItsDocumentedCodeAndTheServerStaysHealthy) {
  ServeProcess server(DataDir());
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.banner().size(), 4u);  // key, token, invitation, its link
  EXPECT_NE(server.banner()[3].find("/console/invite#default."), std::string::npos);
  const std::string admin = server.banner()[1];
  Api api(server.address(), admin);
  Api anonymous(server.address(), "");
  auto healthy = [&] { EXPECT_EQ(anonymous.Call("GET", "/healthz").first, 200); };

  auto [s1, key] =
      api.Call("POST", "/v1/orgs/default/keys", R"({"name": "taken name", "group": "developer"})");
  ASSERT_EQ(s1, 201);
  const std::string key_path = "/v1/orgs/default/keys/" + key["id"].get<std::string>();

  struct Case {
    std::string method, target, body;
    int status;
    std::string code;
  };
  const std::string keys = "/v1/orgs/default/keys";
  const std::vector<Case> cases = {
      // Create.
      {"POST", keys, "{not json", 400, "invalid_request"},
      {"POST", keys, R"({"name": 7, "group": "developer"})", 400, "invalid_request"},
      {"POST", keys, R"({"name": "abc", "group": "developer", "extra": true})", 400,
       "invalid_request"},
      {"POST", keys, R"({"name": "abc", "group": "no-such-group"})", 404, "group_not_found"},
      {"POST", keys, R"({"name": "abc", "group": "developer", "expires": "2001-01-01T00:00:00Z"})",
       422, "invalid_expiration"},
      {"POST", keys, R"({"name": "ab", "group": "developer"})", 422, "invalid_name"},
      {"POST", keys, json{{"name", std::string(51, 'n')}, {"group", "developer"}}.dump(), 422,
       "invalid_name"},
      {"POST", keys, R"({"name": "taken name", "group": "developer"})", 409, "name_taken"},
      // List and get.
      {"GET", keys + "?page_size=0", "", 400, "invalid_request"},
      {"GET", keys + "?status=sleeping", "", 400, "invalid_request"},
      {"GET", keys + "/AAAAAAAAAAAAAAAAAAAAAA", "", 404, "key_not_found"},
      // Rotate, revoke, move.
      {"POST", key_path + "/rotate", "[", 400, "invalid_request"},
      {"POST", key_path + "/rotate", R"({"grace": 3600})", 400, "invalid_request"},
      {"POST", key_path + "/rotate", R"({"grace": "48h"})", 422, "invalid_grace"},
      {"POST", key_path + "/revoke", R"({"reason": ["x"]})", 400, "invalid_request"},
      {"PUT", key_path + "/group", R"({"group": 1})", 400, "invalid_request"},
      {"PUT", key_path + "/group", R"({"group": "no-such-group"})", 404, "group_not_found"},
      // Orgs.
      {"POST", "/v1/orgs", R"({"id": "UPPER", "name": "x"})", 422, "invalid_org_id"},
      {"POST", "/v1/orgs", R"({"id": "x"})", 400, "invalid_request"},
      // Verify (needs no bearer, but a key).
      {"POST", "/v1/verify", R"({"key": false})", 400, "invalid_request"},
      // Routing.
      {"GET", "/v1/nothing", "", 404, "not_found"},
      {"DELETE", key_path, "", 405, "method_not_allowed"},
  };
  for (const Case& c : cases) {
    auto [status, body] = api.Call(c.method, c.target, c.body);
    EXPECT_EQ(status, c.status) << c.method << " " << c.target << " " << c.body << " -> "
                                << body.dump();
    EXPECT_EQ(CodeOf(body), c.code) << c.method << " " << c.target << " " << c.body;
  }
  healthy();

  // Missing and invalid bearer keys, on every authenticated endpoint.
  Api forger(server.address(), "kt_" + std::string(61, 'A'));
  for (const auto& [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", keys},
                                                        {"POST", keys},
                                                        {"GET", key_path},
                                                        {"POST", key_path + "/rotate"},
                                                        {"POST", key_path + "/revoke"},
                                                        {"PUT", key_path + "/group"},
                                                        {"POST", "/v1/orgs"}}) {
    auto missing = anonymous.Call(method, target, "{}");
    EXPECT_EQ(missing.first, 401) << method << " " << target;
    EXPECT_EQ(CodeOf(missing.second), "unauthenticated");
    auto forged = forger.Call(method, target, "{}");
    EXPECT_EQ(forged.first, 401) << method << " " << target;
    EXPECT_EQ(CodeOf(forged.second), "malformed");
  }

  // Another org's resources are 404, as if they did not exist.
  auto [os, org] = api.Call("POST", "/v1/orgs", R"({"id": "acme", "name": "Acme"})");
  ASSERT_EQ(os, 201) << org.dump();
  Api acme(server.address(), org["admin_key"]["token"]);
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", keys}, {"GET", key_path}, {"POST", key_path + "/revoke"}}) {
    auto [status, body] = acme.Call(method, target, "{}");
    EXPECT_EQ(status, 404) << method << " " << target;
    EXPECT_EQ(CodeOf(body), "org_not_found");
  }
  auto [cs, cross] = acme.Call("GET", "/v1/orgs/acme/keys/" + key["id"].get<std::string>());
  EXPECT_EQ(cs, 404);
  EXPECT_EQ(CodeOf(cross), "key_not_found");

  // An oversized body: 413 before it is read, and the connection closes.
  const std::string big =
      json{{"name", std::string(70 * 1024, 'x')}, {"group", "developer"}}.dump();
  auto too_big = api.Raw("POST", keys, big);
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(CodeOf(json::parse(too_big.body, nullptr, false)), "body_too_large");
  EXPECT_EQ(too_big.Header("connection"), "close");
  // Malformed HTTP: 400.
  HttpClient raw(server.address());
  auto garbage = raw.SendRaw("HELLO / WORLD\r\n\r\n");
  EXPECT_EQ(garbage.status, 400);
  healthy();

  // Keep-alive: many requests on one connection, pipelined ones answered in order.
  HttpClient keep(server.address());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(keep.Send("GET", "/healthz").status, 200);
  const std::string two =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(keep.SendRaw(two).status, 200);
  EXPECT_EQ(keep.SendRaw("").status, 404);  // the pipelined second answer

  healthy();
  EXPECT_EQ(anonymous.Call("POST", "/v1/verify", json{{"key", admin}}.dump()).second["valid"],
            true);
  EXPECT_EQ(Exited(server.Stop()), 0);
}

TEST_F(ServeTest, AuditTrailPagesExportsHistoryAndChain) {
  ServeProcess server(DataDir());
  ASSERT_TRUE(server.started());
  const std::string admin = server.banner()[1];
  const std::vector<std::string> tokens = Walkthrough(server.address(), admin);
  ASSERT_EQ(tokens.size(), 2u);
  Api api(server.address(), admin);

  // Pages of 2 cover the whole trail: org, 4 groups, the bootstrap key, member admin and
  // its invitation, a key created, rotate, revoke.
  std::vector<json> records;
  std::string token;
  do {
    auto [status, page] = api.Call("GET", "/v1/orgs/default/audit?page_size=2" +
                                              (token.empty() ? "" : "&page_token=" + token));
    ASSERT_EQ(status, 200) << page.dump();
    for (const json& r : page["records"]) records.push_back(r);
    token = page["next_page_token"].is_string() ? page["next_page_token"].get<std::string>() : "";
  } while (!token.empty());
  ASSERT_EQ(records.size(), 11u);
  EXPECT_EQ(records[0]["action"], "org.created");
  EXPECT_EQ(records.back()["action"], "api_key.revoked");
  EXPECT_EQ(records.back()["details"]["reason"], "rotated out");
  EXPECT_EQ(records.back()["actor"]["key_name"], "bootstrap-admin");
  const std::string key_id = records.back()["target"]["id"];

  auto [hs, history] = api.Call("GET", "/v1/orgs/default/keys/" + key_id + "/history");
  ASSERT_EQ(hs, 200);
  std::vector<std::string> actions;
  for (const json& e : history["events"]) actions.push_back(e["action"]);
  EXPECT_EQ(actions,
            (std::vector<std::string>{"api_key.created", "api_key.rotated", "api_key.revoked"}));
  // Point in time: the key as it was at each of its events, and before it existed.
  const json& h = history["events"];
  auto as_of = [&](const std::string& t) {
    return api.Call("GET", "/v1/orgs/default/keys/" + key_id + "?as_of=" + t);
  };
  auto [s0, at_creation] = as_of(h[0]["time"]);
  ASSERT_EQ(s0, 200) << at_creation.dump();
  EXPECT_EQ(at_creation["status"], "active");
  EXPECT_TRUE(at_creation["last_rotated_at"].is_null());
  EXPECT_EQ(at_creation["group"], "developer");
  EXPECT_TRUE(at_creation["group_rules"].is_array());
  auto [s1, at_rotation] = as_of(h[1]["time"]);
  EXPECT_EQ(at_rotation["status"], "active");
  EXPECT_EQ(at_rotation["last_rotated_at"], h[1]["time"]);
  EXPECT_EQ(as_of(h[2]["time"]).second["status"], "revoked");
  EXPECT_EQ(as_of("2001-01-01T00:00:00Z").first, 404);
  EXPECT_EQ(as_of("then").first, 400);
  auto [fs, revokes] = api.Call("GET", "/v1/orgs/default/audit?action=api_key.revoked");
  EXPECT_EQ(revokes["records"].size(), 1u);

  // The exports, through curl: chunked, one line per record, no secret anywhere.
  const std::string url = "http://" + server.address() + "/v1/orgs/default/audit";
  CommandResult ndjson =
      RunCommand({"/usr/bin/curl", "-sS", "--fail", "-H", "Accept: application/x-ndjson", "-H",
                  "Authorization: Bearer " + admin, "-D", "-", url});
  ASSERT_EQ(ndjson.exit_code, 0) << ndjson.err;
  EXPECT_NE(ndjson.out.find("Transfer-Encoding: chunked"), std::string::npos) << ndjson.out;
  const std::string body = ndjson.out.substr(ndjson.out.find("\r\n\r\n") + 4);
  size_t lines = 0;
  for (size_t at = 0; at < body.size(); at = body.find('\n', at) + 1, ++lines) {
    EXPECT_TRUE(json::parse(body.substr(at, body.find('\n', at) - at), nullptr, false).is_object());
  }
  EXPECT_EQ(lines, 11u);
  CommandResult csv = RunCommand({"/usr/bin/curl", "-sS", "--fail", "-H", "Accept: text/csv", "-H",
                                  "Authorization: Bearer " + admin, url + "?key=" + key_id});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_TRUE(csv.out.starts_with("time,org,action,")) << csv.out;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 4);  // header + 3
  for (const std::string& secret : {admin, tokens[0], tokens[1]}) {
    EXPECT_EQ(ndjson.out.find(secret.substr(3, 40)), std::string::npos);
    EXPECT_EQ(csv.out.find(secret.substr(3, 40)), std::string::npos);
  }

  // The chain verifies; bad filters and other roles are refused.
  auto [vs, verified] = api.Call("GET", "/v1/audit/verify");
  EXPECT_EQ(vs, 200);
  EXPECT_EQ(verified["ok"], true) << verified.dump();
  EXPECT_EQ(verified["records"], 11);
  EXPECT_EQ(api.Call("GET", "/v1/orgs/default/audit?action=api_key.frobbed").first, 400);
  EXPECT_EQ(api.Call("GET", "/v1/orgs/default/audit?from=yesterday").first, 400);
  EXPECT_EQ(api.Call("GET", "/v1/orgs/default/audit?page_token=zz").first, 400);
  auto [cs, viewer_key] =
      api.Call("POST", "/v1/orgs/default/keys", R"({"name": "auditor", "group": "viewer"})");
  ASSERT_EQ(cs, 201);
  Api viewer(server.address(), viewer_key["token"]);
  EXPECT_EQ(viewer.Call("GET", "/v1/orgs/default/audit").first, 403);
  EXPECT_EQ(viewer.Call("GET", "/v1/audit/verify").first, 403);
  EXPECT_EQ(Exited(server.Stop()), 0);
}

TEST_F(ServeTest, RestartKeepsEverythingAndDoesNotBootstrapAgain) {
  std::string admin, kept_token, kept_id, revoked_token;
  json list_before;
  {
    ServeProcess server(DataDir(), {"--bootstrap-token-file", TokenFile()});
    ASSERT_TRUE(server.started());
    ASSERT_EQ(server.banner().size(), 2u);
    admin = ReadFile(TokenFile());
    admin.pop_back();  // the newline
    Api api(server.address(), admin);
    auto [s1, kept] = api.Call("POST", "/v1/orgs/default/keys",
                               R"({"name": "kept", "group": "viewer", "expires": "1y"})");
    ASSERT_EQ(s1, 201);
    kept_token = kept["token"];
    kept_id = kept["id"];
    auto [s2, gone] = api.Call("POST", "/v1/orgs/default/keys",
                               R"({"name": "gone", "group": "viewer", "permissions": ["scim"]})");
    ASSERT_EQ(s2, 201);
    revoked_token = gone["token"];
    ASSERT_EQ(api.Call("POST", "/v1/orgs/default/keys/" + gone["id"].get<std::string>() + "/revoke")
                  .first,
              200);
    list_before = api.Call("GET", "/v1/orgs/default/keys").second;
    EXPECT_EQ(Exited(server.Stop()), 0);
  }
  ServeProcess again(DataDir(), {"--bootstrap-token-file", TokenFile()});
  ASSERT_TRUE(again.started());
  EXPECT_TRUE(again.banner().empty()) << "a restart printed: " << again.banner()[0];
  EXPECT_EQ(ReadFile(TokenFile()), admin + "\n");  // untouched
  Api api(again.address(), admin);
  Api anonymous(again.address(), "");
  EXPECT_EQ(api.Call("GET", "/v1/orgs/default/keys").second, list_before);
  EXPECT_EQ(anonymous.Call("POST", "/v1/verify", json{{"key", kept_token}}.dump()).second["key_id"],
            kept_id);
  EXPECT_EQ(
      anonymous.Call("POST", "/v1/verify", json{{"key", revoked_token}}.dump()).second["reason"],
      "revoked");
  // The writer's state came back too: names are still taken.
  EXPECT_EQ(
      CodeOf(api.Call("POST", "/v1/orgs/default/keys", R"({"name": "kept", "group": "viewer"})")
                 .second),
      "name_taken");
  EXPECT_EQ(Exited(again.Stop()), 0);
  const std::string log = ReadFile(again.log_path());
  EXPECT_NE(log.find("already bootstrapped"), std::string::npos);
}

TEST_F(ServeTest, SigtermFinishesTheRequestInFlightThenExitsZero) {
  ServeProcess server(DataDir());
  ASSERT_TRUE(server.started());
  const std::string admin = server.banner().at(1);
  HttpClient idle(server.address());
  ASSERT_EQ(idle.Send("GET", "/healthz").status, 200);  // now an idle kept-alive connection

  // A request whose headers have arrived but whose body has not when SIGTERM comes:
  // it is in flight, so it is finished and answered (with Connection: close).
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  const std::string& address = server.address();
  addr.sin_port = htons(static_cast<uint16_t>(std::atoi(address.c_str() + address.rfind(':') + 1)));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string body2 = R"({"name": "later", "group": "viewer"})";
  const std::string head2 =
      "POST /v1/orgs/default/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + admin +
      "\r\nContent-Length: " + std::to_string(body2.size()) + "\r\n\r\n";
  ASSERT_EQ(::send(fd, head2.data(), head2.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(head2.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto stop_started = std::chrono::steady_clock::now();
  std::thread stopper([&] { EXPECT_EQ(Exited(server.Stop()), 0); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::send(fd, body2.data(), body2.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(body2.size()));
  std::string response;
  char chunk[4096];
  ssize_t n;
  while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0)
    response.append(chunk, static_cast<size_t>(n));
  ::close(fd);
  stopper.join();
  EXPECT_TRUE(response.starts_with("HTTP/1.1 201")) << response;
  EXPECT_NE(response.find("Connection: close"), std::string::npos) << response;
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(5));
  // The idle connection was closed, not answered.
  EXPECT_EQ(idle.Send("GET", "/healthz").status, 0);
}

TEST_F(ServeTest, SigkillDuringABurstOfCreatesLosesNoAcknowledgedKey) {
  std::string admin;
  std::mutex mu;
  std::vector<std::string> acked;  // ids of keys answered 201
  {
    ServeProcess server(DataDir(), {"--key-quota", "100000"});
    ASSERT_TRUE(server.started());
    admin = server.banner().at(1);
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
      clients.emplace_back([&, t] {
        HttpClient http(server.address());
        for (int i = 0;; ++i) {
          const std::string name = "burst-" + std::to_string(t) + "-" + std::to_string(i);
          auto r = http.Send("POST", "/v1/orgs/default/keys",
                             json{{"name", name}, {"group", "viewer"}}.dump(),
                             {{"Authorization", "Bearer " + admin}});
          if (r.status != 201) return;  // the server is gone
          std::lock_guard lock(mu);
          acked.push_back(json::parse(r.body)["id"]);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (acked.size() >= 50) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    server.Kill();  // mid-burst: requests are in flight
    for (std::thread& c : clients) c.join();
  }
  ASSERT_GE(acked.size(), 50u);
  ServeProcess again(DataDir());
  ASSERT_TRUE(again.started());
  EXPECT_TRUE(again.banner().empty());
  Api api(again.address(), admin);
  for (const std::string& id : acked) {
    EXPECT_EQ(api.Call("GET", "/v1/orgs/default/keys/" + id).first, 200) << "lost key " << id;
  }
  EXPECT_EQ(Exited(again.Stop()), 0);
}

TEST_F(ServeTest, KafkaModeWalkthroughAgainstDevKafka) {
  ChildProcess kafka({KEYTRAIL_BINARY, "dev-kafka", "--partitions", "4"});
  ASSERT_TRUE(kafka.started());
  std::string brokers;
  ASSERT_TRUE(kafka.ReadLine(&brokers));
  std::string admin;
  {
    ServeProcess server(DataDir(), {"--kafka-brokers", brokers});
    ASSERT_TRUE(server.started());
    ASSERT_EQ(server.banner().size(), 4u);
    admin = server.banner()[1];
    EXPECT_EQ(Walkthrough(server.address(), admin).size(), 2u);
    EXPECT_EQ(Exited(server.Stop()), 0);
  }
  // The views are local, the log is in Kafka: a restart finds everything again, and a
  // fresh data dir rebuilds the same state from the topic alone.
  for (const std::string& data_dir : {DataDir(), dir_.path() + "/fresh"}) {
    ServeProcess again(data_dir, {"--kafka-brokers", brokers});
    ASSERT_TRUE(again.started());
    EXPECT_TRUE(again.banner().empty()) << data_dir;
    Api api(again.address(), admin);
    auto [status, list] = api.Call("GET", "/v1/orgs/default/keys");
    EXPECT_EQ(status, 200) << data_dir;
    EXPECT_EQ(list["keys"].size(), 2u) << data_dir;
    EXPECT_EQ(Exited(again.Stop()), 0);
  }
  // Kafka goes away under a running server, mid-load (dev-kafka's SIGUSR1 takes every
  // broker down, SIGUSR2 brings them back): the server stays alive and says it is not
  // ready; once it knows the log is unreachable, commands are answered 503 at once, not
  // after the 10 s Kafka timeout; verify keeps working from memory and says how stale;
  // when Kafka answers again, so does keytrail, and no acknowledged create is lost.
  {
    ServeProcess server(DataDir(), {"--kafka-brokers", brokers});
    ASSERT_TRUE(server.started());
    Api api(server.address(), admin);
    EXPECT_EQ(api.Call("GET", "/readyz").first, 200);
    // Creates a key named `name` until it is accepted (or 30 s pass): its status.
    auto create_until_accepted = [&](const std::string& name) {
      int status = 0;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (status != 201 && std::chrono::steady_clock::now() < deadline) {
        status = api.Call("POST", "/v1/orgs/default/keys",
                          json{{"name", name}, {"group", "viewer"}}.dump())
                     .first;
        if (status != 201) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      return status;
    };
    // This node writes once the group has given it the partitions (the previous server's
    // claims are stale until then).
    ASSERT_EQ(create_until_accepted("before the outage"), 201);
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::string> acked;
    std::map<int, int> statuses;
    std::thread load([&] {
      Api loader(server.address(), admin);
      for (int n = 0; !stop.load(); ++n) {
        auto [status, body] =
            loader.Call("POST", "/v1/orgs/default/keys",
                        json{{"name", "load " + std::to_string(n)}, {"group", "viewer"}}.dump());
        std::lock_guard lock(mu);
        ++statuses[status];
        if (status == 201) acked.push_back(body["id"]);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    kafka.Signal(SIGUSR1);
    auto create = [&] {
      return api.Call("POST", "/v1/orgs/default/keys",
                      json{{"name", "probe"}, {"group", "viewer"}}.dump());
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (create().first != 503 && std::chrono::steady_clock::now() < deadline) {
    }
    const auto asked = std::chrono::steady_clock::now();
    auto refused = api.Raw("POST", "/v1/orgs/default/keys",
                           json{{"name", "probe"}, {"group", "viewer"}}.dump());
    EXPECT_EQ(refused.status, 503) << refused.body;
    EXPECT_EQ(refused.Header("retry-after"), "1");
    EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2))
        << "refused by the breaker, not after the Kafka timeout";
    auto verified = api.Raw("POST", "/v1/verify", json{{"key", admin}}.dump());
    EXPECT_EQ(json::parse(verified.body)["valid"], true);
    EXPECT_NE(verified.Header("x-keytrail-stale-seconds"), "") << refused.body;
    EXPECT_EQ(api.Call("GET", "/healthz").first, 200);
    auto [ready, problem] = api.Call("GET", "/readyz");
    for (int i = 0; i < 30 && ready != 503; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      std::tie(ready, problem) = api.Call("GET", "/readyz");
    }
    EXPECT_EQ(ready, 503);
    EXPECT_NE(problem.value("detail", "").find("kafka"), std::string::npos) << problem.dump();
    EXPECT_NE(api.Raw("GET", "/metrics").body.find("keytrail_log_reachable 0"), std::string::npos);

    // The load client's request in flight when the brokers went down may wait out the
    // Kafka timeout (10 s); its next ones meet the breaker. One refusal before the brokers
    // come back (a CI run once brought them back first).
    for (int i = 0; i < 150; ++i) {
      {
        std::lock_guard lock(mu);
        if (statuses[503] > 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kafka.Signal(SIGUSR2);
    EXPECT_EQ(create_until_accepted("after the outage"), 201);
    stop.store(true);
    load.join();
    std::lock_guard lock(mu);
    for (const auto& [code, count] : statuses) {
      EXPECT_TRUE(code == 201 || code == 503) << count << " answers " << code;
    }
    EXPECT_GT(statuses[503], 0);
    for (const std::string& id : acked) {
      EXPECT_EQ(api.Call("GET", "/v1/orgs/default/keys/" + id).first, 200) << "lost " << id;
    }
    EXPECT_EQ(Exited(server.Stop()), 0);
  }
  kafka.Signal(SIGTERM);
  EXPECT_EQ(Exited(kafka.Wait()), 0);
}

TEST_F(ServeTest, BadFlagsAndUnusableAddressesFailFast) {
  {
    ChildProcess child({KEYTRAIL_BINARY, "serve", "--data-dir", DataDir(), "--log-format", "xml"});
    EXPECT_EQ(Exited(child.Wait()), 2);
  }
  {
    ChildProcess child({KEYTRAIL_BINARY, "serve", "--data-dir", DataDir(), "--listen", "nowhere"});
    EXPECT_EQ(Exited(child.Wait()), 3);
  }
  {
    ChildProcess child(
        {KEYTRAIL_BINARY, "serve", "--data-dir", DataDir(), "--retired-key-window", "a day"});
    EXPECT_EQ(Exited(child.Wait()), 2);
  }
}

// --kafka-config: a property librdkafka refuses, one keytrail sets itself, or a missing file
// fails the start with exit 2 and a message naming the line and the property, never the
// value (values may be passwords).
TEST_F(ServeTest, BadKafkaConfigFailsTheStartWithoutShowingValues) {
  const std::string file = dir_.path() + "/kafka.properties";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sasl.password=hunter2-secret\nno.such.property=hunter2-secret\n", "no.such.property"},
      {"# durability is keytrail's\nacks=hunter2-secret\n", "keytrail sets 'acks' itself"},
      {"session.timeout.ms=hunter2-secret\n", "session.timeout.ms"},
      {"just a line\n", "expected name=value"}};
  for (const auto& [content, expected] : cases) {
    std::ofstream(file, std::ios::trunc) << content;
    auto result = RunCommand({KEYTRAIL_BINARY, "serve", "--data-dir", DataDir(), "--kafka-brokers",
                              "127.0.0.1:1", "--kafka-config", file});
    EXPECT_EQ(result.exit_code, 2) << content;
    EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("hunter2"), std::string::npos) << "a value leaked: " << result.err;
  }
  auto missing = RunCommand({KEYTRAIL_BINARY, "serve", "--data-dir", DataDir(), "--kafka-brokers",
                             "127.0.0.1:1", "--kafka-config", dir_.path() + "/nowhere"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no such file"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace keytrail::testing
