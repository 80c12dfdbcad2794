// GET /healthz, /readyz, /metrics.
#include "server/handlers/handlers.h"
#include "server/json_io.h"
#include "server/problem.h"

namespace keytrail::server {

using nlohmann::json;

HttpResponse HealthzHandler(ApiContext&, const RoutedRequest&) {
  return JsonResponse(200, json{{"status", "ok"}});
}

// Ready while the engine runs and the server is not shutting down. (Projector lag and
// halted projectors are not reported by the engine yet, so they are not checked.)
HttpResponse ReadyzHandler(ApiContext& ctx, const RoutedRequest&) {
  if (!ctx.ready.load(std::memory_order_acquire)) {
    return Problem(503, "not_ready", "the engine is starting or shutting down");
  }
  return JsonResponse(200, json{{"status", "ready"}});
}

HttpResponse MetricsHandler(ApiContext& ctx, const RoutedRequest&) {
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = ctx.metrics.Render() + Metrics::RenderEngine(ctx.engine);
  return response;
}

}  // namespace keytrail::server
