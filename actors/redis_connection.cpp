#include "actors/redis_connection.hpp"
#include "actors/redis_sentinel.hpp"

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cctype>
#include <cstdlib>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

namespace stet {

namespace {

// -- hiredis <-> Asio: readiness of hiredis' socket drives its handlers --

struct asio_events {
  redisAsyncContext* ac;
  boost::asio::posix::stream_descriptor fd;
  bool reading = false;
  bool writing = false;
  bool read_armed = false;
  bool write_armed = false;
  bool alive = true;

  asio_events(boost::asio::io_context& io, redisAsyncContext* c) : ac(c), fd(io, c->c.fd) {
  }
};

using events_ptr = std::shared_ptr<asio_events>;

void arm_read(const events_ptr& ev) {
  if (!ev->alive || !ev->reading || ev->read_armed)
    return;
  ev->read_armed = true;
  ev->fd.async_wait(boost::asio::posix::stream_descriptor::wait_read, [ev](const boost::system::error_code& ec) {
    ev->read_armed = false;
    if (ec || !ev->alive || !ev->reading)
      return;
    redisAsyncHandleRead(ev->ac); // may free the context (then alive == false)
    arm_read(ev);
  });
}

void arm_write(const events_ptr& ev) {
  if (!ev->alive || !ev->writing || ev->write_armed)
    return;
  ev->write_armed = true;
  ev->fd.async_wait(boost::asio::posix::stream_descriptor::wait_write, [ev](const boost::system::error_code& ec) {
    ev->write_armed = false;
    if (ec || !ev->alive || !ev->writing)
      return;
    redisAsyncHandleWrite(ev->ac);
    arm_write(ev);
  });
}

events_ptr& box(void* privdata) {
  return *static_cast<events_ptr*>(privdata);
}

void add_read(void* p) {
  box(p)->reading = true;
  arm_read(box(p));
}
void del_read(void* p) {
  box(p)->reading = false;
}
void add_write(void* p) {
  box(p)->writing = true;
  arm_write(box(p));
}
void del_write(void* p) {
  box(p)->writing = false;
}
void cleanup(void* p) {
  auto* holder = static_cast<events_ptr*>(p);
  auto& ev = *holder;
  ev->alive = false;
  boost::system::error_code ignored;
  ev->fd.cancel(ignored);
  ev->fd.release(); // hiredis closes its own socket
  delete holder;
}

void attach(boost::asio::io_context& io, redisAsyncContext* ac) {
  ac->ev.data = new events_ptr(std::make_shared<asio_events>(io, ac));
  ac->ev.addRead = add_read;
  ac->ev.delRead = del_read;
  ac->ev.addWrite = add_write;
  ac->ev.delWrite = del_write;
  ac->ev.cleanup = cleanup;
}

} // namespace

redis_reply copy_reply(const void* reply) {
  auto* r = static_cast<const redisReply*>(reply);
  redis_reply out;
  if (!r) {
    out.error = "connection lost";
    return out;
  }
  switch (r->type) {
    case REDIS_REPLY_ERROR: out.error = std::string(r->str, r->len); return out;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: out.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: out.integer = r->integer; break;
    case REDIS_REPLY_NIL: out.nil = true; break;
    case REDIS_REPLY_ARRAY:
      for (std::size_t i = 0; i < r->elements; ++i) {
        auto* e = r->element[i];
        out.elements.emplace_back(e && e->str ? std::string(e->str, e->len)
                                  : e && e->type == REDIS_REPLY_INTEGER ? std::to_string(e->integer)
                                                                      : std::string{});
      }
      break;
    default: break;
  }
  out.ok = true;
  return out;
}

namespace {

redis_connection* owner_of(const redisAsyncContext* ac) {
  return static_cast<redis_connection*>(ac->data);
}

void on_connect(const redisAsyncContext* ac, int status) {
  if (auto* self = owner_of(ac))
    self->handle_connected(status);
}

void on_disconnect(const redisAsyncContext* ac, int status) {
  if (auto* self = owner_of(ac))
    self->handle_disconnected(status);
}

void on_reply(redisAsyncContext*, void* reply, void* privdata) {
  auto* done = static_cast<redis_connection::reply_handler*>(privdata);
  if (*done)
    (*done)(copy_reply(static_cast<redisReply*>(reply)));
  delete done;
}

void on_pubsub(redisAsyncContext* ac, void* reply, void*) {
  if (auto* self = owner_of(ac))
    self->handle_pubsub(reply);
}

int send_argv(redisAsyncContext* ac, redisCallbackFn* fn, void* privdata, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return redisAsyncCommandArgv(ac, fn, privdata, static_cast<int>(argv.size()), argv.data(), lens.data());
}

} // namespace

namespace {

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) && hex(s[i + 2])) {
      out += static_cast<char>(std::stoi(std::string{s.substr(i + 1, 2)}, nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

} // namespace

result<redis_endpoint> parse_redis_url(std::string_view url) {
  redis_endpoint at;
  std::string_view rest = url;
  if (rest.starts_with("redis://"))
    rest.remove_prefix(8);
  else if (rest.find("://") != std::string_view::npos)
    return make_error(errc::invalid_argument, "redis URL must start with redis:// (TLS is not supported; see README)");
  rest = rest.substr(0, rest.find('/'));
  if (auto at_sign = rest.rfind('@'); at_sign != std::string_view::npos) {
    auto credentials = rest.substr(0, at_sign);
    rest.remove_prefix(at_sign + 1);
    auto colon = credentials.find(':');
    if (colon == std::string_view::npos) {
      at.password = percent_decode(credentials); // redis://PASSWORD@HOST
    } else {
      at.username = percent_decode(credentials.substr(0, colon));
      at.password = percent_decode(credentials.substr(colon + 1));
    }
  }
  auto colon = rest.rfind(':');
  if (auto host = rest.substr(0, colon); !host.empty())
    at.host = std::string{host};
  if (colon != std::string_view::npos) {
    auto port = std::atoi(std::string{rest.substr(colon + 1)}.c_str());
    if (port <= 0 || port > 65535)
      return make_error(errc::invalid_argument, "redis URL has no valid port: " + std::string{rest});
    at.port = port;
  }
  return at;
}

result<std::vector<redis_endpoint>> parse_redis_hosts(std::string_view list) {
  std::vector<redis_endpoint> out;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto one = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    auto at = parse_redis_url(one);
    if (!at || one.find(':') == std::string_view::npos || one.find('@') != std::string_view::npos)
      return make_error(errc::invalid_argument, "needs HOST:PORT[,HOST:PORT...], got \"" + std::string{one} + "\"");
    out.push_back(std::move(*at));
  }
  if (out.empty())
    return make_error(errc::invalid_argument, "needs at least one HOST:PORT");
  return out;
}

redis_connection::redis_connection(boost::asio::io_context& io, redis_endpoint at)
  : io_(io), at_(std::move(at)), retry_(io) {
}

redis_connection::~redis_connection() {
  stop();
}

void redis_connection::start() {
  stopped_ = false;
  connect();
}

void redis_connection::stop() {
  stopped_ = true;
  retry_.cancel();
  if (ac_) {
    ac_->data = nullptr; // no callbacks into us any more
    redisAsyncFree(ac_);
    ac_ = nullptr;
  }
  up_ = false;
}

void redis_connection::reset(const std::string& why) {
  if (stopped_ || !ac_)
    return;
  auto* ac = ac_;
  ac->data = nullptr; // no disconnect callback: we reconnect here
  ac_ = nullptr;
  redisAsyncFree(ac); // pending replies are answered "connection lost"
  backoff_ = std::chrono::milliseconds{100};
  schedule_reconnect(why);
}

void redis_connection::follow(std::shared_ptr<redis_sentinel> sentinel) {
  sentinel_ = std::move(sentinel);
  sentinel_->on_switch([w = weak_from_this()](const redis_endpoint& master) {
    auto self = w.lock();
    if (!self || self->stopped_)
      return;
    self->backoff_ = std::chrono::milliseconds{100};
    // Still on the old master (demoted, or cut off from the sentinels):
    // drop it; the reconnect asks the sentinels again.
    if (self->ac_ && (self->at_.host != master.host || self->at_.port != master.port))
      self->reset("the sentinels named another master");
  });
}

void redis_connection::connect() {
  if (stopped_)
    return;
  if (!sentinel_)
    return dial();
  sentinel_->resolve([w = weak_from_this()](std::optional<redis_endpoint> master) {
    auto self = w.lock();
    if (!self || self->stopped_ || self->ac_)
      return;
    if (!master)
      return self->schedule_reconnect("no sentinel could name the redis master");
    self->at_.host = master->host;
    self->at_.port = master->port;
    self->dial();
  });
}

void redis_connection::dial() {
  ac_ = redisAsyncConnect(at_.host.c_str(), at_.port);
  if (!ac_ || ac_->err) {
    std::string why = ac_ ? ac_->errstr : "out of memory";
    if (ac_)
      redisAsyncFree(ac_);
    ac_ = nullptr;
    return schedule_reconnect(why);
  }
  ac_->data = this;
  attach(io_, ac_);
  redisAsyncSetConnectCallback(ac_, on_connect);
  redisAsyncSetDisconnectCallback(ac_, on_disconnect);
  // Connected and answering within 3 s, or dropped and tried again.
  retry_.expires_after(std::chrono::seconds(3));
  retry_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec && !self->up_ && self->ac_)
      self->reset("redis did not answer in time");
  });
}

void redis_connection::handle_connected(int status) {
  if (status != REDIS_OK) {
    std::string why = ac_ && ac_->errstr[0] ? ac_->errstr : "connect failed";
    ac_ = nullptr; // hiredis frees the context after this callback
    return schedule_reconnect(why);
  }
  // Up only once Redis answers: a connection accepted by something that
  // never answers (a half-open path) is not a bus.
  std::vector<std::string> auth{"PING"};
  if (!at_.password.empty()) {
    auth = {"AUTH"};
    if (!at_.username.empty())
      auth.push_back(at_.username);
    auth.push_back(at_.password);
  }
  auto* holder = new reply_handler([w = weak_from_this()](const redis_reply& r) {
    auto self = w.lock();
    if (!self || !self->ac_)
      return;
    if (r.ok)
      return self->on_ready();
    // Never the password in the reason: it reaches logs and /readyz.
    self->set_up(false, "redis refused the login: " + r.error);
    redisAsyncDisconnect(self->ac_); // reconnects with backoff
  });
  if (send_argv(ac_, on_reply, holder, auth) != REDIS_OK)
    delete holder;
}

void redis_connection::on_ready() {
  retry_.cancel();
  backoff_ = std::chrono::milliseconds{100};
  for (auto& ch : channels_)
    send_argv(ac_, on_pubsub, nullptr, {"SUBSCRIBE", ch});
  set_up(true, "connected");
}

void redis_connection::handle_disconnected(int status) {
  std::string why = status == REDIS_OK ? "closed" : (ac_ && ac_->errstr[0] ? ac_->errstr : "connection lost");
  ac_ = nullptr; // freed by hiredis
  schedule_reconnect(why);
}

void redis_connection::schedule_reconnect(const std::string& why) {
  set_up(false, why);
  if (stopped_)
    return;
  retry_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds{5000});
  retry_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
    if (auto self = w.lock(); self && !ec)
      self->connect();
  });
}

void redis_connection::set_up(bool up, const std::string& why) {
  // A first connection that fails is news too: without it a node that
  // never reached Redis said nothing and reported "not connected yet".
  bool changed = up != up_ || !reported_;
  up_ = up;
  if (changed && on_state_) {
    reported_ = true;
    on_state_(up, why);
  }
}

void redis_connection::command(const std::vector<std::string>& args, reply_handler done) {
  if (!ac_ || !up_) {
    if (done)
      done(redis_reply{.ok = false, .error = "not connected to redis"});
    return;
  }
  auto* holder = new reply_handler(std::move(done));
  if (send_argv(ac_, on_reply, holder, args) != REDIS_OK) {
    if (*holder)
      (*holder)(redis_reply{.ok = false, .error = "redis refused the command"});
    delete holder;
  }
}

void redis_connection::subscribe(const std::string& channel) {
  if (!channels_.insert(channel).second)
    return;
  if (ac_ && up_)
    send_argv(ac_, on_pubsub, nullptr, {"SUBSCRIBE", channel});
}

void redis_connection::unsubscribe(const std::string& channel) {
  if (!channels_.erase(channel))
    return;
  if (ac_ && up_)
    send_argv(ac_, on_pubsub, nullptr, {"UNSUBSCRIBE", channel});
}

void redis_connection::handle_pubsub(void* reply) {
  auto* r = static_cast<redisReply*>(reply);
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
    return;
  std::string kind(r->element[0]->str, r->element[0]->len);
  if (kind == "subscribe" && on_subscribed_ && r->element[1]->str)
    on_subscribed_(std::string(r->element[1]->str, r->element[1]->len));
  if (kind != "message" || !on_message_)
    return;
  on_message_(std::string(r->element[1]->str, r->element[1]->len), std::string(r->element[2]->str, r->element[2]->len));
}

} // namespace stet
