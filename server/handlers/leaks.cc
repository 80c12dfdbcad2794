// POST /v1/leaks: leak reports from secret scanners (no caller credential, like verify).
#include <map>
#include <utility>

#include <fmt/format.h>

#include "server/forward.h"
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/member_sessions.h"
#include "server/problem.h"

namespace keytrail::server {
namespace {

using nlohmann::json;

constexpr size_t kMaxTokensPerReport = 100;
constexpr size_t kMaxTokenLength = 512;

// A token of a live key: one the scanner found that still works, or would once resumed.
bool Live(const VerifyResult& result) {
  return result.valid || result.reason == VerifyReason::kSuspended ||
         result.reason == VerifyReason::kNoGroup;
}

struct OrgLeaks {
  std::vector<KeyId> keys;
  std::vector<std::string> tokens;  // the same keys' tokens, to hand to another node
};

// Revokes the keys of `org` (written here) with reason "leaked"; the first failure.
Status RevokeHere(ApiContext& ctx, const std::string& org, const OrgLeaks& leaks,
                  const domain::LeakSource& source) {
  domain::CommandContext context{.org = org,
                                 .actor_kind = fb::ActorKind::System,
                                 .actor_id = "leak-report",
                                 .authorize = false};  // the token was the proof
  for (const KeyId& key : leaks.keys) {
    auto outcome = ctx.engine.Execute(context, domain::RevokeKey{key, "leaked", source});
    if (!outcome.ok()) return outcome.status();  // revoked or expired meanwhile: done
  }
  return Status::Ok();
}

// Hands `org`'s share of the report to the node that writes it.
Status RevokeThere(ApiContext& ctx, bool forwarded, const std::string& org, const OrgLeaks& leaks,
                   const domain::LeakSource& source) {
  if (forwarded) {  // one hop only
    return Status::Unavailable("the org's writer moved while the report was on its way");
  }
  HttpRequest share;
  share.method = "POST";
  share.target = "/v1/leaks";
  share.headers = {{"content-type", "application/json"}};
  share.body =
      json{{"tokens", leaks.tokens}, {"source", source.source}, {"url", source.url}}.dump();
  auto answer = ForwardToWriter(ctx.engine, ctx.options.forward, share, "/v1/leaks", org);
  if (answer && answer->status == 202) return Status::Ok();
  return Status::Unavailable("the org's writer did not take the report");
}

}  // namespace

// {tokens: [1..100 strings], source?: string, url?: string} -> 202 {received: n}, the same
// whatever the tokens are. Every token of a live key revokes it (reason "leaked", the
// source and url in the audit trail) before the answer; 503 if that could not be done
// (send the report again). Rate limited per client address (429 + Retry-After).
HttpResponse ReportLeaksHandler(ApiContext& ctx, const RoutedRequest& request) {
  if (!IsForwarded(ctx.options.forward, ctx.engine, request.http)) {  // the first node counted it
    if (auto wait =
            ctx.leak_reports.Admit(ClientAddress(request.http.remote), ctx.clock.NowMicros())) {
      HttpResponse response =
          Problem(429, "too_many_reports", "too many leak reports from this address; wait");
      response.SetHeader("Retry-After", std::to_string(*wait));
      return response;
    }
  }
  BodyReader body(request.http.body, {"tokens", "source", "url"});
  auto tokens = body.StringArray("tokens", true);
  auto source = body.String("source", false);
  auto url = body.String("url", false);
  if (!body.ok()) return body.problem();
  if (tokens->empty() || tokens->size() > kMaxTokensPerReport) {
    return Problem(400, "invalid_request",
                   fmt::format("tokens holds 1 to {} tokens", kMaxTokensPerReport));
  }
  if (source.value_or("").size() > domain::kMaxLeakSourceLength ||
      url.value_or("").size() > domain::kMaxLeakUrlLength) {
    return Problem(400, "invalid_request",
                   fmt::format("source is at most {} characters, url at most {}",
                               domain::kMaxLeakSourceLength, domain::kMaxLeakUrlLength));
  }
  std::map<std::string, OrgLeaks> by_org;
  for (const std::string& token : *tokens) {
    if (token.size() > kMaxTokenLength) continue;  // no token of ours: nothing to do
    const VerifyResult result = ctx.engine.Identify(token);
    if (!Live(result)) continue;
    OrgLeaks& leaks = by_org[std::string(result.org)];
    leaks.keys.push_back(result.key_id);
    leaks.tokens.push_back(token);
  }
  const json received = {{"received", tokens->size()}};
  if (by_org.empty()) return JsonResponse(202, received);
  // Revocations wait for the log (and maybe another node): off the io thread.
  return OffIoThread(
      ctx.blocking, [&ctx, forwarded = IsForwarded(ctx.options.forward, ctx.engine, request.http),
                     by_org = std::move(by_org), received,
                     leak = domain::LeakSource{source.value_or(""), url.value_or("")}] {
        Status failed;
        for (const auto& [org, leaks] : by_org) {
          Status s = ctx.engine.WriterOf(org).self ? RevokeHere(ctx, org, leaks, leak)
                                                   : RevokeThere(ctx, forwarded, org, leaks, leak);
          if (!s.ok() && failed.ok()) failed = s;
        }
        if (!failed.ok()) {
          HttpResponse response =
              Problem(503, "report_not_recorded",
                      "the report could not be recorded in full; send it again");
          response.SetHeader("Retry-After", "1");
          return response;
        }
        return JsonResponse(202, received);
      });
}

}  // namespace keytrail::server
