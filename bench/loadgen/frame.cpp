#include "bench/loadgen/frame.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace stet::loadgen {

namespace {

std::uint64_t to_u64(std::string_view s) {
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Keeps the message's kind (its one top-level key), rev and clientSeq (in
// the message's own object), and the first inserted text's writer tag.
class reader final : public nlohmann::json_sax<nlohmann::json> {
public:
  explicit reader(frame& out) : out_(out) {
  }
  bool key(string_t& k) override {
    if (depth_ == 1 && out_.kind.empty())
      out_.kind = k;
    key_ = depth_ == 2 && (k == "rev" || k == "clientSeq") ? k : depth_ > 2 && k == "insert" ? k : std::string{};
    return true;
  }
  bool string(string_t& v) override {
    if (key_ == "rev")
      out_.rev = to_u64(v);
    else if (key_ == "clientSeq")
      out_.client_seq = to_u64(v);
    else if (key_ == "insert" && !out_.writer && v.size() > 1 && v[0] == 'w')
      if (auto dot = v.find('.'); dot != std::string::npos)
        out_.writer = to_u64(std::string_view{v}.substr(1, dot - 1));
    key_.clear();
    return true;
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (key_ == "rev")
      out_.rev = v;
    else if (key_ == "clientSeq")
      out_.client_seq = v;
    key_.clear();
    return true;
  }
  bool start_object(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool null() override {
    return true;
  }
  bool boolean(bool) override {
    return true;
  }
  bool number_integer(number_integer_t) override {
    return true;
  }
  bool number_float(number_float_t, const string_t&) override {
    return true;
  }
  bool binary(binary_t&) override {
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

private:
  frame& out_;
  int depth_ = 0;
  std::string key_;
};

} // namespace

std::optional<frame> read_frame(std::string_view text) {
  frame out;
  reader r{out};
  if (!nlohmann::json::sax_parse(text, &r))
    return std::nullopt;
  return out;
}

} // namespace stet::loadgen
