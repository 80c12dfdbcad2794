#include "server/http_client.h"

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace keytrail::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

bool IsDigits(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// One exchange over `stream` (connected, and for TLS handshaken): write, then read.
template <typename Stream>
void Exchange(Stream& stream, http::request<http::string_body>& request,
              http::response_parser<http::string_body>& parser, beast::flat_buffer& buffer,
              beast::error_code& failure, const char*& stage) {
  stage = "send to";
  http::async_write(stream, request, [&](beast::error_code ec, size_t) {
    if (ec) {
      failure = ec;
      return;
    }
    stage = "read the answer of";
    http::async_read(stream, buffer, parser, [&](beast::error_code ec, size_t) { failure = ec; });
  });
}

}  // namespace

Result<HttpClient> HttpClient::Create(const std::string& server, std::chrono::milliseconds timeout,
                                      std::string user_agent) {
  std::string_view rest = server;
  bool tls = false;
  if (rest.starts_with("https://")) {
    tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  }
  while (rest.ends_with('/')) rest.remove_suffix(1);
  const size_t colon = rest.rfind(':');
  const bool has_port = colon != std::string_view::npos && colon != 0;
  if (rest.empty() || rest.find('/') != std::string_view::npos ||
      (has_port && !IsDigits(rest.substr(colon + 1))) || (!has_port && !tls)) {
    return Status::InvalidArgument(fmt::format(
        "the server must look like http://HOST:PORT or https://HOST[:PORT], not '{}'", server));
  }
  std::string host(has_port ? rest.substr(0, colon) : rest);
  std::string port(has_port ? rest.substr(colon + 1) : std::string_view("443"));
  return HttpClient(std::move(host), std::move(port), tls, timeout, std::move(user_agent));
}

Result<HttpReply> HttpClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) const {
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code failure;
  const char* stage = "resolve";

  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  // RFC 9110 7.2: the port too, unless it is the scheme's default (providers build their
  // URLs from it).
  const bool default_port = port_ == (tls_ ? "443" : "80");
  request.set(http::field::host, default_port ? host_ : host_ + ":" + port_);
  request.set(http::field::user_agent, user_agent_);
  request.set(http::field::accept, "application/json");
  if (!body.empty()) request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::flat_buffer buffer;

  auto endpoints = resolver.resolve(host_, port_, failure);
  if (!failure && !tls_) {
    beast::tcp_stream stream(io);
    stage = "connect to";
    stream.expires_after(timeout_);
    stream.async_connect(endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        failure = ec;
        return;
      }
      Exchange(stream, request, parser, buffer, failure, stage);
    });
    io.run();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  } else if (!failure) {
    // Verified against the system's CA store, for the name asked for (SNI included).
    ssl::context context(ssl::context::tls_client);
    context.set_default_verify_paths();
    context.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, context);
    stream.set_verify_callback(ssl::host_name_verification(host_));
    if (!SSL_set_tlsext_host_name(stream.native_handle(), host_.c_str())) {
      return Status::Unavailable(fmt::format("cannot set the TLS server name for {}", origin_));
    }
    stage = "connect to";
    beast::get_lowest_layer(stream).expires_after(timeout_);
    beast::get_lowest_layer(stream).async_connect(
        endpoints, [&](beast::error_code ec, const tcp::endpoint&) {
          if (ec) {
            failure = ec;
            return;
          }
          stage = "agree on TLS with";
          stream.async_handshake(ssl::stream_base::client, [&](beast::error_code ec) {
            if (ec) {
              failure = ec;
              return;
            }
            Exchange(stream, request, parser, buffer, failure, stage);
          });
        });
    io.run();
  }
  if (failure) {
    return Status::Unavailable(fmt::format("cannot {} {}: {}", stage, origin_, failure.message()));
  }
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
