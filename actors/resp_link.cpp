#include "actors/resp_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <hiredis/hiredis.h>

namespace stet {

namespace {

bool is_message(const redis_reply& r) {
  if (!r.ok || r.elements.size() != 3)
    return false;
  auto& kind = r.elements[0];
  return kind == "smessage" || kind == "message";
}

} // namespace

resp_link::resp_link(boost::asio::io_context& io, redis_endpoint at)
  : io_(io), at_(std::move(at)), socket_(io), resolver_(io), watchdog_(io), reader_(redisReaderCreate()) {
}

resp_link::~resp_link() {
  closed_ = true;
  if (reader_)
    redisReaderFree(reader_);
}

void resp_link::start() {
  started_ = std::chrono::steady_clock::now();
  watch();
  resolver_.async_resolve(
    at_.host, std::to_string(at_.port),
    [self = shared_from_this()](const boost::system::error_code& ec,
                                boost::asio::ip::tcp::resolver::results_type found) {
      if (self->closed_)
        return;
      if (ec)
        return self->fail("cannot resolve " + self->at_.host + ": " + ec.message());
      boost::asio::async_connect(self->socket_, found,
                                 [self](const boost::system::error_code& ec, const boost::asio::ip::tcp::endpoint&) {
                                   if (self->closed_)
                                     return;
                                   if (ec)
                                     return self->fail("cannot connect to " + self->at_.address() + ": "
                                                       + ec.message());
                                   boost::system::error_code ignored;
                                   self->socket_.set_option(boost::asio::ip::tcp::no_delay{true}, ignored);
                                   self->read_more();
                                   std::vector<std::string> login{"PING"};
                                   if (!self->at_.password.empty()) {
                                     login = {"AUTH"};
                                     if (!self->at_.username.empty())
                                       login.push_back(self->at_.username);
                                     login.push_back(self->at_.password);
                                   }
                                   self->send(login, [self](const redis_reply& r) {
                                     if (self->closed_)
                                       return;
                                     // Never the password in the reason: it reaches logs and /readyz.
                                     if (!r.ok)
                                       return self->fail("redis refused the login: " + r.error);
                                     self->ready_ = true;
                                     if (self->on_ready_)
                                       self->on_ready_();
                                   });
                                 });
    });
}

void resp_link::close() {
  if (closed_)
    return;
  closed_ = true;
  ready_ = false;
  boost::system::error_code ignored;
  resolver_.cancel();
  watchdog_.cancel();
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  auto unanswered = std::move(in_flight_);
  in_flight_.clear();
  for (auto& p : unanswered)
    if (p.done)
      p.done(redis_reply{.ok = false, .error = "connection lost"});
}

void resp_link::fail(const std::string& why) {
  if (closed_)
    return;
  auto keep = shared_from_this();
  close();
  if (on_closed_)
    on_closed_(why);
}

void resp_link::command(const std::vector<std::string>& args, reply_handler done) {
  if (!ready_ || closed_) {
    if (done)
      done(redis_reply{.ok = false, .error = "not connected to redis " + at_.address()});
    return;
  }
  send(args, std::move(done));
}

void resp_link::send(const std::vector<std::string>& args, reply_handler done) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  char* encoded = nullptr;
  int n = redisFormatCommandArgv(&encoded, static_cast<int>(argv.size()), argv.data(), lens.data());
  if (n < 0) {
    if (done)
      done(redis_reply{.ok = false, .error = "cannot encode the command"});
    return;
  }
  out_.append(encoded, static_cast<std::size_t>(n));
  redisFreeCommand(encoded);
  pending p{std::move(done), std::chrono::steady_clock::now()};
  if (args.size() == 2 && args[0] == "SUNSUBSCRIBE")
    p.unsubscribe = args[1];
  in_flight_.push_back(std::move(p));
  write_more();
}

void resp_link::write_more() {
  if (closed_ || !writing_.empty() || out_.empty())
    return;
  writing_.swap(out_);
  boost::asio::async_write(socket_, boost::asio::buffer(writing_),
                           [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                             if (self->closed_)
                               return;
                             if (ec)
                               return self->fail("write to redis failed: " + ec.message());
                             self->writing_.clear();
                             self->write_more();
                           });
}

void resp_link::read_more() {
  socket_.async_read_some(boost::asio::buffer(in_), [self = shared_from_this()](const boost::system::error_code& ec,
                                                                                 std::size_t n) {
    if (self->closed_)
      return;
    if (ec)
      return self->fail(ec == boost::asio::error::eof ? "redis closed the connection"
                                                      : "read from redis failed: " + ec.message());
    if (redisReaderFeed(self->reader_, self->in_.data(), n) != REDIS_OK)
      return self->fail("cannot parse what redis sent");
    for (;;) {
      void* reply = nullptr;
      if (redisReaderGetReply(self->reader_, &reply) != REDIS_OK)
        return self->fail("cannot parse what redis sent");
      if (!reply)
        break;
      auto r = copy_reply(reply);
      freeReplyObject(reply);
      self->dispatch(r);
      if (self->closed_)
        return;
    }
    self->read_more();
  });
}

void resp_link::dispatch(const redis_reply& r) {
  // Pub/sub messages, and a shard dropping a subscription by itself (its
  // slot moved away), are news; everything else answers the oldest command.
  bool unasked_unsubscribe = r.ok && r.elements.size() == 3 && r.elements[0] == "sunsubscribe"
                             && (in_flight_.empty() || in_flight_.front().unsubscribe != r.elements[1]);
  if (is_message(r) || unasked_unsubscribe) {
    if (on_push_)
      on_push_(r);
    return;
  }
  if (in_flight_.empty())
    return fail("redis sent a reply nobody asked for");
  auto p = std::move(in_flight_.front());
  in_flight_.pop_front();
  if (p.done)
    p.done(r);
}

void resp_link::watch() {
  if (closed_)
    return;
  auto now = std::chrono::steady_clock::now();
  if (!ready_ && now - started_ > k_answer_limit)
    return fail("redis did not answer in time");
  if (!in_flight_.empty() && now - in_flight_.front().sent > k_answer_limit)
    return fail("no answer from redis");
  // Idle: ask something, so a connection that went quiet is noticed.
  if (ready_ && in_flight_.empty())
    send({"PING"}, {});
  watchdog_.expires_after(std::chrono::seconds(1));
  watchdog_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec)
      self->watch();
  });
}

} // namespace stet
