// The storage contract as tests, run against every backend.
#pragma once

#include "storage/store.hpp"

#include <functional>
#include <memory>

namespace stet::test {

/// Opens a fresh, empty store; called again with `reopen = true`, opens the
/// same one (to check durability across restarts).
using store_factory = std::function<std::unique_ptr<storage::store>(bool reopen)>;

void run_store_conformance(const store_factory& open);
/// The one text rule: U+0000 anywhere is refused (nul_character), nothing of
/// the batch is stored, and what is stored survives a reopen byte-exact.
void run_text_conformance(const store_factory& open);
/// Accounts: token epochs, password changes and deleting a user.
void run_account_conformance(const store_factory& open);
/// The webhook outbox: events written in the transactions that cause
/// them while enabled, debounced changes, delivery and retry.
void run_webhook_conformance(const store_factory& open);
/// Named versions: stored byte-exact, listed without their text, found
/// only under their document, bounded, deleted with the document.
void run_version_conformance(const store_factory& open);

} // namespace stet::test
