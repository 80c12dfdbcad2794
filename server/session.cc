#include "server/session.h"

#include <array>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "server/beast_request.h"
#include "server/log.h"

namespace keytrail::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// After refusing a request whose body was not read (413, 431, 400), the session stops
// sending and reads and discards what the client still sends, for at most this long
// and this much, so that closing does not reset the connection before the client has
// read the refusal.
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr size_t kMaxDrainBytes = 1 << 20;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionSocket&& socket, std::shared_ptr<ServerShared> shared)
      : socket_(std::move(socket)),
        deadline_timer_(socket_.get_executor()),
        shared_(std::move(shared)),
        buffer_(shared_->options.max_header_bytes + shared_->options.max_body_bytes + 65536) {}

  ~Session() {
    if (id_ != 0) shared_->connections.Remove(id_);
  }

  void Start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
  }

 private:
  enum class State { kReading, kHandling, kWriting, kDraining };

  void Begin() {
    std::weak_ptr<Session> weak = weak_from_this();
    auto executor = socket_.get_executor();
    id_ = shared_->connections.Add(
        [weak, executor] {
          net::post(executor, [weak] {
            if (auto self = weak.lock()) self->OnStop();
          });
        },
        [weak, executor] {
          net::post(executor, [weak] {
            if (auto self = weak.lock()) self->OnShed();
          });
        },
        reading_);
    if (id_ == 0) return Close();  // the server is stopping
    boost::system::error_code ec;
    const tcp::endpoint peer = socket_.remote_endpoint(ec);
    if (!ec) remote_ = peer.address().to_string() + ":" + std::to_string(peer.port());
    ReadHeader();
  }

  // The server is stopping: a connection waiting for a new request closes now; one
  // with a request in flight finishes it and closes after the response.
  void OnStop() {
    if (state_ == State::kReading && parser_.has_value() && !parser_->got_some() &&
        buffer_.size() == 0) {
      socket_.cancel();
    }
  }

  // Room is needed for a new connection: this one goes if it is still reading a request
  // (idle, or a client slow to send one); one with a request in flight stays.
  void OnShed() {
    if (state_ == State::kReading) socket_.cancel();
  }

  // The connection closes if the I/O under way (reading a request, writing a response,
  // draining) is not done by `after` from now. Moving a deadline costs no timer operation:
  // one timer per connection wakes when the earliest deadline set may have passed and goes
  // back to sleep until the current one if I/O moved it since (Beast's tcp_stream armed and
  // cancelled a timer for every read and write).
  void ExpireAfter(std::chrono::steady_clock::duration after) {
    deadline_ = std::chrono::steady_clock::now() + after;
    if (!deadline_timer_waiting_ || deadline_ < deadline_timer_.expiry()) WaitForDeadline();
  }

  void WaitForDeadline() {
    deadline_timer_.expires_at(deadline_);  // a wait already pending ends, operation_aborted
    deadline_timer_waiting_ = true;
    deadline_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      // Aborted: replaced by a new wait, or the session is closing.
      if (ec == net::error::operation_aborted) return;
      if (auto self = weak.lock()) self->OnDeadline();
    });
  }

  void OnDeadline() {
    deadline_timer_waiting_ = false;
    if (closed_) return;
    if (state_ == State::kHandling) {
      // No I/O under way: the request waits for its answer (a command on its way to the
      // log), which has no deadline here.
      deadline_ = std::chrono::steady_clock::now() + shared_->options.idle_timeout;
      return WaitForDeadline();
    }
    if (std::chrono::steady_clock::now() < deadline_) return WaitForDeadline();
    // The I/O under way fails (operation_aborted) and its handler closes the session.
    // Cancelled, not closed: a read or write that completed just before (its handler
    // queued behind this one) keeps its result, and the request it read is answered.
    // If nothing was pending at this instant (between two steps of one operation), the
    // next deadline tries again.
    beast::error_code ignored;
    socket_.cancel(ignored);
    deadline_ = std::chrono::steady_clock::now() + shared_->options.idle_timeout;
    WaitForDeadline();
  }

  void ReadHeader() {
    if (shared_->connections.stopping()) return Close();
    reading_->store(true, std::memory_order_release);
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<uint32_t>(shared_->options.max_header_bytes));
    state_ = State::kReading;
    ExpireAfter(shared_->options.idle_timeout);
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    reading_->store(false, std::memory_order_release);
    if (ec) return OnReadError(ec);
    const auto& request = parser_->get();
    if (beast::iequals(request[http::field::expect], "100-continue")) {
      // The body fits (a Content-Length over the limit fails the header read), so ask
      // the client to send it.
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                        request.version());
      http::async_write(socket_, *interim,
                        [self = shared_from_this(), interim](beast::error_code write_ec, size_t) {
                          if (write_ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->OnRequest();
                     });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Refuse(
          413, "body_too_large",
          "the request body exceeds " + std::to_string(shared_->options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return Refuse(431, "headers_too_large", "the request headers are too large");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Refuse(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    // End of stream, deadline passed, reset, cancelled by Shutdown: nothing to answer.
    Close();
  }

  void OnRequest() {
    state_ = State::kHandling;
    if (TryFast(parser_->get())) return;
    BeastRequest message = parser_->release();
    const unsigned version = message.version();
    const bool client_keep_alive = message.keep_alive();
    const HttpRequest request = HttpRequestOf(std::move(message), remote_);
    HttpResponse response = Guarded([&] { return shared_->handler(request); });
    if (response.later) {
      // The answer comes later, through the Responder, on this connection's executor.
      auto executor = socket_.get_executor();
      Responder responder{
          .post = [executor](std::function<void()> fn) { net::post(executor, std::move(fn)); },
          .respond =
              [self = shared_from_this(), version, client_keep_alive](HttpResponse final_response) {
                self->Answer(std::move(final_response), version, client_keep_alive);
              }};
      auto later = std::move(response.later);
      try {
        later(std::move(responder));
      } catch (const std::exception& e) {
        Log(LogLevel::kError, "handler threw", {{"error", e.what()}});
        Answer(shared_->ErrorResponse(500, "internal", "internal error"), version,
               client_keep_alive);
      }
      return;
    }
    Answer(std::move(response), version, client_keep_alive);
  }

  // Offers the request to the application's fast path; true if it answered (the write is
  // then under way). The response goes out from a buffer this connection keeps, so a
  // kept-alive connection answers without allocating once the buffer has grown.
  bool TryFast(const BeastRequest& message) {
    const FastHandler& fast = shared_->options.fast_handler;
    if (!fast || message.version() != 11) return false;
    const bool keep_alive = message.keep_alive() && !shared_->connections.stopping();
    const FastRequest request = FastRequestOf(message, remote_, keep_alive);
    fast_out_.clear();
    bool threw = false;
    const bool answered = Guarded([&] { return fast(request, &fast_out_); },
                                  [&] {
                                    threw = true;
                                    return false;
                                  });
    if (threw) {
      // The fast path may have acted (verified, counted): answer 500, never run the
      // request a second time on the general path.
      Answer(shared_->ErrorResponse(500, "internal", "internal error"), message.version(),
             keep_alive);
      return true;
    }
    if (!answered) return false;
    state_ = State::kWriting;
    ExpireAfter(shared_->options.idle_timeout);
    net::async_write(socket_, net::buffer(fast_out_),
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                       if (ec || !keep_alive) return self->Close();
                       self->ReadHeader();
                     });
    return true;
  }

  // Calls `handle`, turning an exception into a 500.
  template <typename Handle>
  HttpResponse Guarded(Handle handle) {
    return Guarded(handle,
                   [&] { return shared_->ErrorResponse(500, "internal", "internal error"); });
  }
  // Calls `handle`; on_throw() if it threw.
  template <typename Handle, typename OnThrow>
  auto Guarded(Handle handle, OnThrow on_throw) -> decltype(handle()) {
    try {
      return handle();
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "handler threw", {{"error", e.what()}});
    } catch (...) {
      Log(LogLevel::kError, "handler threw", {{"error", "unknown exception"}});
    }
    return on_throw();
  }

  void Answer(HttpResponse response, unsigned version, bool client_keep_alive) {
    const bool keep_alive =
        client_keep_alive && !response.close && !shared_->connections.stopping();
    Write(std::move(response), version, keep_alive, /*drain=*/false);
  }

  // Answers a request that could not be read whole, then closes.
  void Refuse(int status, std::string_view code, const std::string& detail) {
    state_ = State::kHandling;
    Write(shared_->ErrorResponse(status, code, detail), 11, /*keep_alive=*/false,
          /*drain=*/true);
  }

  void Write(HttpResponse response, unsigned version, bool keep_alive, bool drain) {
    if (response.stream && !drain) {
      return WriteStreamed(std::move(response), version, keep_alive && version >= 11);
    }
    auto message = std::make_shared<http::response<http::string_body>>();
    message->version(version);
    message->result(static_cast<unsigned>(response.status));
    if (std::string_view reason = ReasonPhrase(response.status); reason != "Unknown") {
      message->reason(beast::string_view(reason.data(), reason.size()));
    }
    message->set(http::field::server, "keytrail");
    if (!response.content_type.empty()) {
      message->set(http::field::content_type, response.content_type);
    }
    for (HttpHeader& header : response.headers) message->insert(header.name, header.value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive);
    message->prepare_payload();
    // RFC 9110 8.6: no Content-Length on a 204 (or 1xx, 304); some gateways refuse it.
    if (response.status == 204 || response.status == 304 || response.status < 200) {
      message->erase(http::field::content_length);
    }
    state_ = State::kWriting;
    ExpireAfter(shared_->options.idle_timeout);
    http::async_write(
        socket_, *message,
        [self = shared_from_this(), message, keep_alive, drain](beast::error_code ec, size_t) {
          if (ec) return self->Close();
          if (drain) return self->Drain();
          if (!keep_alive) return self->Close();
          self->ReadHeader();
        });
  }

  // The header, then one piece per call of the response's producer: as chunks
  // ("Transfer-Encoding: chunked") for HTTP/1.1; for HTTP/1.0, which has no chunks, as
  // the raw body delimited by closing the connection. Either way the body is never held
  // whole in memory.
  void WriteStreamed(HttpResponse response, unsigned version, bool keep_alive) {
    const bool chunked = version >= 11;
    auto header = std::make_shared<http::response<http::empty_body>>();
    header->version(chunked ? 11 : 10);
    header->result(static_cast<unsigned>(response.status));
    header->set(http::field::server, "keytrail");
    if (!response.content_type.empty()) {
      header->set(http::field::content_type, response.content_type);
    }
    for (HttpHeader& h : response.headers) header->insert(h.name, h.value);
    header->keep_alive(chunked && keep_alive);
    if (chunked) header->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    auto producer = std::make_shared<std::function<bool(std::string*)>>(std::move(response.stream));
    state_ = State::kWriting;
    ExpireAfter(shared_->options.idle_timeout);
    http::async_write_header(socket_, *serializer,
                             [self = shared_from_this(), header, serializer, producer, chunked,
                              keep_alive](beast::error_code ec, size_t) {
                               if (ec) return self->Close();
                               self->WritePiece(producer, chunked, chunked && keep_alive);
                             });
  }

  // Sends the producer's next non-empty piece, or, once it has said there is no more
  // (`finished`), ends the body (the last chunk, or closing for HTTP/1.0). A producer
  // that throws cuts the body: the connection closes without the last chunk, which a
  // client sees as an incomplete response, and the server goes on.
  void WritePiece(std::shared_ptr<std::function<bool(std::string*)>> producer, bool chunked,
                  bool keep_alive, bool finished = false) {
    auto piece = std::make_shared<std::string>();
    try {
      while (!finished && piece->empty()) finished = !(*producer)(piece.get());
    } catch (const std::exception& e) {
      Log(LogLevel::kError, "streamed response failed; cutting it", {{"error", e.what()}});
      return Close();
    }
    ExpireAfter(shared_->options.idle_timeout);
    if (piece->empty()) {
      if (!chunked) return Close();  // HTTP/1.0: the end of the body is the end of the stream
      return net::async_write(
          socket_, http::make_chunk_last(),
          [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
            if (ec || !keep_alive) return self->Close();
            self->ReadHeader();
          });
    }
    auto written = [self = shared_from_this(), piece, producer, chunked, finished, keep_alive](
                       beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->WritePiece(producer, chunked, keep_alive, finished);
    };
    if (chunked) {
      net::async_write(socket_, http::make_chunk(net::buffer(*piece)), std::move(written));
    } else {
      net::async_write(socket_, net::buffer(*piece), std::move(written));
    }
  }

  void Drain() {
    state_ = State::kDraining;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    ExpireAfter(kDrainTime);
    DrainSome();
  }

  void DrainSome() {
    socket_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kMaxDrainBytes) return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    closed_ = true;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    deadline_timer_.cancel();
  }

  SessionSocket socket_;
  // See ExpireAfter. The timer's handler holds no reference: a session whose I/O is
  // over is freed at once, and its pending wait is cancelled with it.
  net::basic_waitable_timer<std::chrono::steady_clock, net::wait_traits<std::chrono::steady_clock>,
                            SessionSocket::executor_type>
      deadline_timer_;
  std::chrono::steady_clock::time_point deadline_;
  bool deadline_timer_waiting_ = false;
  bool closed_ = false;
  std::shared_ptr<ServerShared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  State state_ = State::kReading;
  uint64_t id_ = 0;
  // State::kReading, for the registry's shedding (read from other threads).
  std::shared_ptr<std::atomic<bool>> reading_ = std::make_shared<std::atomic<bool>>(false);
  std::string remote_;
  std::array<char, 4096> scratch_{};
  std::string fast_out_;  // the fast path's response, kept across requests
  size_t drained_ = 0;
};

}  // namespace

void StartSession(SessionSocket socket, std::shared_ptr<ServerShared> shared) {
  std::make_shared<Session>(std::move(socket), std::move(shared))->Start();
}

}  // namespace keytrail::server
