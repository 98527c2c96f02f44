#include "core/error.hpp"

namespace stet {

std::optional<errc> parse_errc(std::string_view name) noexcept {
  for (int i = 0; i <= static_cast<int>(errc::internal); ++i)
    if (to_string(static_cast<errc>(i)) == name)
      return static_cast<errc>(i);
  return std::nullopt;
}

std::string_view to_string(errc code) noexcept {
  switch (code) {
    case errc::bad_message: return "bad_message";
    case errc::unknown_message: return "unknown_message";
    case errc::invalid_argument: return "invalid_argument";
    case errc::invalid_utf8: return "invalid_utf8";
    case errc::nul_character: return "nul_character";
    case errc::not_joined: return "not_joined";
    case errc::out_of_range: return "out_of_range";
    case errc::bad_rev: return "bad_rev";
    case errc::rev_too_old: return "rev_too_old";
    case errc::frame_too_large: return "frame_too_large";
    case errc::document_too_large: return "document_too_large";
    case errc::too_many_ops: return "too_many_ops";
    case errc::unknown_document: return "unknown_document";
    case errc::unauthorized: return "unauthorized";
    case errc::token_expired: return "token_expired";
    case errc::forbidden: return "forbidden";
    case errc::rate_limited: return "rate_limited";
    case errc::out_of_order: return "out_of_order";
    case errc::overloaded: return "overloaded";
    case errc::storage_unavailable: return "storage_unavailable";
    case errc::fenced: return "fenced";
    case errc::slow_consumer: return "slow_consumer";
    case errc::internal: return "internal";
  }
  return "internal";
}

std::string describe(const error& err) {
  return err.detail.empty() ? err.message : err.message + " (" + err.detail + ")";
}

} // namespace stet
