#include "storage/store.hpp"

namespace stet::storage {

result<user_row> external_user(store& s, std::string_view issuer, std::string_view subject) {
  if (auto found = s.find_external_user(issuer, subject); !found || *found)
    return found ? result<user_row>{**found} : result<user_row>{found.error()};
  // A name is taken by another identity only when issuer and subject
  // themselves hold "/" ("a/b" + "c" and "a" + "b/c"): then a suffix.
  std::string name = std::string{issuer} + "/" + std::string{subject};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    auto candidate = attempt == 1 ? name : name + "#" + std::to_string(attempt);
    // "!" is no password hash: nobody logs in as this user with a password.
    auto created = s.create_user(user_row{0, candidate, "", "!", 0, 0});
    if (!created && created.error().code != errc::invalid_argument)
      return created.error();
    if (created) {
      if (auto st = s.link_external_user(issuer, subject, created->id); !st)
        return st.error();
      auto linked = s.find_external_user(issuer, subject);
      if (!linked)
        return linked.error();
      // Another node linked its own user first: ours goes, so no orphan
      // keeps a name this identity should have.
      if (*linked && (*linked)->id != created->id)
        s.delete_user(created->id);
      break;
    }
    // Taken: maybe by another node creating this very user a moment ago.
    if (auto found = s.find_external_user(issuer, subject); !found || *found)
      return found ? result<user_row>{**found} : result<user_row>{found.error()};
  }
  auto found = s.find_external_user(issuer, subject);
  if (!found)
    return found.error();
  if (!*found)
    return make_error(errc::internal, "could not create a user for this identity");
  return **found;
}

} // namespace stet::storage
