// Password hashing with argon2id (libsodium's crypto_pwhash_str). Hashing
// costs tens of milliseconds on purpose: call it off the Asio and CAF
// scheduler threads.
#pragma once

#include "core/error.hpp"

#include <string>
#include <string_view>

namespace stet::auth {

/// The encoded argon2id hash (salt and parameters included) of `password`.
/// Errors: internal when libsodium cannot allocate its memory.
result<std::string> hash_password(std::string_view password);

/// True when `password` matches `encoded` (constant time).
bool verify_password(std::string_view password, const std::string& encoded);

} // namespace stet::auth
