// GET /healthz, /readyz, /metrics.
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"

namespace keytrail::server {

using nlohmann::json;

HttpResponse HealthzHandler(ApiContext&, const RoutedRequest&) {
  return JsonResponse(200, json{{"status", "ok"}});
}

// Ready while the server is not starting or shutting down, the event log answers
// (its end offset is read for every partition) and no partition's views are halted or
// more than options.max_projector_lag events behind: the ReadinessProbe's last answer,
// at most a second old, so a probe never waits for the log. Why it is not ready (offsets,
// broker errors) is told only to an organization-admin key.
HttpResponse ReadyzHandler(ApiContext& ctx, const RoutedRequest& request) {
  if (!ctx.ready.load(std::memory_order_acquire)) {
    return Problem(503, "not_ready", "the engine is starting or shutting down");
  }
  const Status ready = ctx.readiness.Last();
  if (ready.ok()) return JsonResponse(200, json{{"status", "ready"}});
  auto caller = Authenticate(ctx.engine, request.http);
  const bool admin =
      std::holds_alternative<Caller>(caller) && IsOrgAdmin(ctx.engine, std::get<Caller>(caller));
  HttpResponse response =
      Problem(503, "not_ready",
              admin ? ready.message() : "not ready; an organization-admin key is told why");
  response.SetHeader("Retry-After", "1");
  return response;
}

HttpResponse MetricsHandler(ApiContext& ctx, const RoutedRequest&) {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = ctx.metrics.Render() + Metrics::RenderEngine(ctx.engine);
  return response;
}

}  // namespace keytrail::server
