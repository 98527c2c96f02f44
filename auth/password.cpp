#include "auth/password.hpp"

#include <sodium.h>

namespace stet::auth {

namespace {

bool ready() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

} // namespace

result<std::string> hash_password(std::string_view password) {
  if (!ready())
    return make_error(errc::internal, "libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE)
      != 0)
    return make_error(errc::internal, "out of memory while hashing a password");
  return std::string{out};
}

bool verify_password(std::string_view password, const std::string& encoded) {
  if (!ready())
    return false;
  return crypto_pwhash_str_verify(encoded.c_str(), password.data(), password.size()) == 0;
}

} // namespace stet::auth
