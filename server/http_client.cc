#include "server/http_client.h"

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace keytrail::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

bool IsDigits(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

Result<HttpClient> HttpClient::Create(const std::string& server,
                                      std::chrono::milliseconds timeout, std::string user_agent) {
  std::string_view rest = server;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  if (rest.starts_with("https://") || colon == std::string_view::npos || colon == 0 ||
      !IsDigits(rest.substr(colon + 1)) || rest.find('/') != std::string_view::npos) {
    return Status::InvalidArgument(
        fmt::format("--server must look like http://HOST:PORT (plain HTTP), not '{}'", server));
  }
  return HttpClient(std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1)),
                    timeout, std::move(user_agent));
}

Result<HttpReply> HttpClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) const {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  beast::error_code failure;
  const char* stage = "resolve";

  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, host_);
  request.set(http::field::user_agent, user_agent_);
  request.set(http::field::accept, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::flat_buffer buffer;

  auto endpoints = resolver.resolve(host_, port_, failure);
  if (!failure) {
    stage = "connect to";
    stream.expires_after(timeout_);
    stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        failure = ec;
        return;
      }
      stage = "send to";
      http::async_write(stream, request, [&](beast::error_code ec, size_t) {
        if (ec) {
          failure = ec;
          return;
        }
        stage = "read the answer of";
        http::async_read(stream, buffer, parser,
                         [&](beast::error_code ec, size_t) { failure = ec; });
      });
    });
    io.run();
  }
  if (failure) {
    return Status::Unavailable(fmt::format("cannot {} {}: {}", stage, origin_, failure.message()));
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  auto& response = parser.get();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  reply.content_type = std::string(response[http::field::content_type]);
  for (const auto& field : response) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  reply.body = std::move(response.body());
  return reply;
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

}  // namespace keytrail::server
