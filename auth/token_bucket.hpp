// Rate limiting by token bucket: `rate` tokens per second up to `burst`.
// token_bucket is single-threaded (one owner, e.g. a gateway actor);
// keyed_limiter shares buckets by key (user, IP) across threads.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace stet::auth {

class token_bucket {
public:
  using clock = std::chrono::steady_clock;

  token_bucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst), last_(clock::now()) {
  }

  /// True when a token is there, without taking it.
  bool available(clock::time_point now = clock::now()) {
    refill(now);
    return tokens_ >= 1.0;
  }

  /// Takes one token if there is one.
  bool try_take(clock::time_point now = clock::now()) {
    refill(now);
    if (tokens_ < 1.0)
      return false;
    tokens_ -= 1.0;
    return true;
  }

  /// True when the bucket is full again: nothing is owed, and forgetting it
  /// changes no answer.
  bool full(clock::time_point now = clock::now()) {
    refill(now);
    return tokens_ >= burst_;
  }

  /// Gives back a token taken for something that turned out free.
  void refund() {
    tokens_ = std::min(burst_, tokens_ + 1.0);
  }

private:
  void refill(clock::time_point now) {
    std::chrono::duration<double> dt = now - last_;
    last_ = now;
    tokens_ = std::min(burst_, tokens_ + dt.count() * rate_);
  }
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_;
};

class keyed_limiter {
public:
  /// Keys tracked at most.
  static constexpr std::size_t k_max_keys = 100'000;

  keyed_limiter(double rate, double burst, std::size_t max_keys = k_max_keys)
    : rate_(rate), burst_(burst), max_keys_(max_keys) {
  }
  /// Thread-safe. At `max_keys`, buckets that are full again (idle keys)
  /// are forgotten; a key that would still not fit is refused, so a flood
  /// of fresh keys can neither grow memory nor wipe the buckets of keys
  /// that still owe tokens.
  bool try_take(const std::string& key) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_keys_) {
        // A sweep walks every key: at most one a second, however many
        // fresh keys knock meanwhile.
        auto now = token_bucket::clock::now();
        if (now - swept_at_ >= std::chrono::seconds(1)) {
          swept_at_ = now;
          for (auto b = buckets_.begin(); b != buckets_.end();)
            b = b->second.full(now) ? buckets_.erase(b) : std::next(b);
        }
        if (buckets_.size() >= max_keys_)
          return false;
      }
      it = buckets_.try_emplace(key, rate_, burst_).first;
    }
    return it->second.try_take();
  }

  /// Keys tracked now.
  std::size_t size() {
    std::lock_guard<std::mutex> guard{mutex_};
    return buckets_.size();
  }

  /// Thread-safe: gives back a token `key` took (charged up front, refunded
  /// when the attempt turned out free, e.g. a login that succeeded).
  void refund(const std::string& key) {
    std::lock_guard<std::mutex> guard{mutex_};
    if (auto it = buckets_.find(key); it != buckets_.end())
      it->second.refund();
  }

  /// Thread-safe: whether `key` has a token left, without taking it.
  bool available(const std::string& key) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto it = buckets_.find(key);
    return it == buckets_.end() || it->second.available();
  }

private:
  double rate_;
  double burst_;
  std::size_t max_keys_;
  token_bucket::clock::time_point swept_at_{};
  std::mutex mutex_;
  std::unordered_map<std::string, token_bucket> buckets_;
};

/// How many documents a user, or an anonymous address, may create per hour.
/// Keys are "user:<id>" or "ip:<address>" (see join_request::creator).
class creation_quota {
public:
  creation_quota(double per_user_per_hour, double per_ip_per_hour)
    : users_(per_user_per_hour / 3600.0, per_user_per_hour), addresses_(per_ip_per_hour / 3600.0, per_ip_per_hour) {
  }
  /// Thread-safe. An empty key (a node that did not say) is not limited here.
  bool try_take(const std::string& creator) {
    if (creator.rfind("user:", 0) == 0)
      return users_.try_take(creator);
    if (creator.rfind("ip:", 0) == 0)
      return addresses_.try_take(creator);
    return true;
  }

private:
  keyed_limiter users_;
  keyed_limiter addresses_;
};

} // namespace stet::auth
