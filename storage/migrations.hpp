// Versioned schema migrations, shared by the backends. Each entry upgrades
// the schema from version i to i + 1; a backend applies the ones it has not
// recorded in `schema_migrations`, each in its own transaction.
#pragma once

#include <string_view>
#include <vector>

namespace stet::storage {

struct migration {
  int version;
  std::string_view description;
  std::string_view sqlite;
  std::string_view postgres;
};

const std::vector<migration>& migrations();

} // namespace stet::storage
