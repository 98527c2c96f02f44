#include "core/document.hpp"

#include <doctest/doctest.h>

using namespace stet;

namespace {

stet::edit edit_by(std::string client, std::uint64_t seq, std::uint64_t base, operation op) {
  return stet::edit{std::move(client), 0, seq, base, std::move(op)};
}

// The document's revisions `from` to `to` as the op log stores them.
std::vector<history_entry> logged(const document& d, std::uint64_t from, std::uint64_t to) {
  std::vector<history_entry> out;
  for (auto r = from; r <= to; ++r)
    out.push_back(*d.entry(r));
  return out;
}

document fresh(conflict_policy p = conflict_policy::lww, document_limits limits = {}) {
  return document{"d", p, limits, "hello world"};
}

} // namespace

TEST_CASE("document orders edits and transforms stale ones") {
  auto d = fresh(conflict_policy::merge);
  auto a = edit_by("a", 1, 0, operation{}.insert(">"));
  auto b = edit_by("b", 1, 0, operation{}.retain(11).insert("!"));
  REQUIRE(d.submit(a, 1000));
  auto r = d.submit(b, 1000);
  REQUIRE(r);
  CHECK(r->rev == 2);
  CHECK(d.text().str() == ">hello world!");
  CHECK(d.entry(2)->ts > d.entry(1)->ts);
  CHECK(d.text_at(1) == ">hello world");
  CHECK(d.text_at(0) == "hello world");
}

TEST_CASE("document deduplicates resends by client and sequence number") {
  auto d = fresh();
  auto a = edit_by("a", 1, 0, operation{}.insert("x"));
  REQUIRE(d.submit(a, 1));
  auto again = edit_by("a", 1, 0, operation{}.insert("x"));
  auto r = d.submit(again, 2);
  REQUIRE(r);
  CHECK(r->duplicate);
  CHECK(r->rev == 1);
  CHECK(d.rev() == 1);
  CHECK(d.text().str() == "xhello world");
}

TEST_CASE("document holds back a client's later edits until one refused for now is resent") {
  auto d = fresh();
  REQUIRE(d.submit(edit_by("a", 1, 0, operation{}.insert("1")), 1000));
  d.hold_back(0, "a", 3); // the caller refused 3 for now
  d.hold_back(0, "a", 2); // and 2: the earliest counts
  auto later = d.submit(edit_by("a", 4, 1, operation{}.insert("4")), 1000);
  REQUIRE_FALSE(later);
  CHECK(later.error().code == errc::out_of_order);
  CHECK(d.rev() == 1);
  CHECK(d.submit(edit_by("b", 1, 1, operation{}.insert("b")), 1000)); // other clients go on
  REQUIRE(d.submit(edit_by("a", 2, 2, operation{}.insert("2")), 1000));
  auto three = d.submit(edit_by("a", 3, 3, operation{}.insert("3")), 1000);
  REQUIRE(three);
  CHECK_FALSE(three->duplicate); // had 4 gone first, 3 would have been taken for a duplicate
  REQUIRE(d.submit(edit_by("a", 4, 4, operation{}.insert("4")), 1000));
  CHECK(d.rev() == 5);
}

TEST_CASE("document: holding back an edit already applied changes nothing") {
  auto d = fresh();
  REQUIRE(d.submit(edit_by("a", 1, 0, operation{}.insert("1")), 1000));
  REQUIRE(d.submit(edit_by("a", 2, 1, operation{}.insert("2")), 1000));
  d.hold_back(0, "a", 2); // a resend of 2 refused for now: it comes back as a duplicate anyway
  CHECK(d.submit(edit_by("a", 3, 2, operation{}.insert("3")), 1000));
  d.hold_back(0, "", 9); // no client id: nothing to hold
  CHECK(d.submit(edit_by("", 10, 3, operation{}.insert("x")), 1000));
}

TEST_CASE("document deduplicates per user: the same client id of another user is another client") {
  auto d = fresh();
  auto thief = edit_by("laptop", std::uint64_t{1} << 62, 0, operation{}.insert("M"));
  thief.user_id = 66;
  REQUIRE(d.submit(thief, 1));
  auto victim = edit_by("laptop", 1, 1, operation{}.insert("a"));
  victim.user_id = 7;
  auto r = d.submit(victim, 2);
  REQUIRE(r);
  CHECK_FALSE(r->duplicate);
  CHECK(r->rev == 2);
  CHECK(d.entry(2)->user_id == 7);
  CHECK(d.entry(1)->user_id == 66);
  // The victim's resend is still a duplicate of its own edit.
  auto resend = edit_by("laptop", 1, 1, operation{}.insert("a"));
  resend.user_id = 7;
  auto again = d.submit(resend, 3);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->rev == 2);
  // Restored from storage, the records stay per user.
  stored_document stored;
  stored.id = "d";
  stored.snapshot = d.text().str();
  stored.snapshot_rev = 2;
  stored.clients = {{client_key(66, "laptop"), std::uint64_t{1} << 62, 1}, {client_key(7, "laptop"), 1, 2}};
  auto restored = document::restore(stored, {});
  REQUIRE(restored);
  auto next = edit_by("laptop", 2, 2, operation{}.insert("b"));
  next.user_id = 7;
  auto n = restored->submit(next, 4);
  REQUIRE(n);
  CHECK_FALSE(n->duplicate);
}

TEST_CASE("document forgets the clients whose last edit is oldest past max_clients") {
  document_limits limits;
  limits.max_clients = 100;
  auto d = fresh(conflict_policy::lww, limits);
  for (int i = 0; i < 1000; ++i) {
    auto e = edit_by("c" + std::to_string(i), 1, d.rev(), operation{}.insert("x"));
    REQUIRE(d.submit(e, 1));
    CHECK(d.clients_remembered() <= 100);
  }
  // The newest are still known: their resends are duplicates.
  auto resend = edit_by("c999", 1, d.rev(), operation{}.insert("x"));
  auto r = d.submit(resend, 2);
  REQUIRE(r);
  CHECK(r->duplicate);
}

TEST_CASE("document names the earlier edit's user in a conflict notice") {
  auto d = fresh();
  auto first = edit_by("c", 1, 0, operation{}.retain(8).insert("X"));
  first.user_id = 3;
  REQUIRE(d.submit(first, 1));
  auto second = edit_by("c", 1, 0, operation{}.retain(6).erase(5));
  second.user_id = 4;
  auto r = d.submit(second, 2);
  REQUIRE(r);
  REQUIRE(r->conflicts.size() == 1);
  CHECK(r->conflicts[0].user_id == 3);
  CHECK(r->conflicts[0].client_id == "c");
  CHECK(r->conflicts[0].dropped == "X");
}

TEST_CASE("document rejects bad edits and changes nothing") {
  document_limits small;
  small.max_bytes = 20;
  small.history = 2;
  auto d = fresh(conflict_policy::lww, small);
  auto check = [&](stet::edit req, errc code) {
    auto r = d.submit(req, 1);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
    CHECK(d.text().str() == "hello world");
  };
  check(edit_by("a", 0, 0, operation{}.insert("x")), errc::invalid_argument);
  check(edit_by("a", 1, 5, operation{}.insert("x")), errc::bad_rev);
  check(edit_by("a", 1, 0, operation{}.retain(12).insert("x")), errc::out_of_range);
  check(edit_by("a", 1, 0, operation{}.insert("0123456789abc")), errc::document_too_large);
  // History of 2: after three edits, base 0 is too old.
  for (std::uint64_t i = 1; i <= 3; ++i) {
    auto e = edit_by("b", i, d.rev(), operation{}.erase(1));
    REQUIRE(d.submit(e, 1));
  }
  d.mark_durable(d.rev(), 1);
  auto old = edit_by("a", 1, 0, operation{}.insert("x"));
  auto r = d.submit(old, 1);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::rev_too_old);
}

TEST_CASE("document reports lww conflicts to the earlier author") {
  auto d = fresh(conflict_policy::lww);
  auto first = edit_by("a", 7, 0, operation{}.retain(6).erase(5).insert("there"));
  auto second = edit_by("b", 1, 0, operation{}.retain(6).erase(5).insert("stet"));
  REQUIRE(d.submit(first, 1));
  auto r = d.submit(second, 2);
  REQUIRE(r);
  CHECK(d.text().str() == "hello stet");
  REQUIRE(r->conflicts.size() == 1);
  CHECK(r->conflicts[0].client_id == "a");
  CHECK(r->conflicts[0].client_seq == 7);
  CHECK(r->conflicts[0].dropped == "there");
  CHECK(r->conflicts[0].restored == "world");
}

TEST_CASE("document restores from snapshot and op log") {
  auto d = fresh();
  for (std::uint64_t i = 1; i <= 5; ++i) {
    auto e = edit_by("a", i, d.rev(), operation{}.insert(std::to_string(i)));
    REQUIRE(d.submit(e, 100 + i));
  }
  stored_document stored;
  stored.id = "d";
  stored.snapshot = d.text_at(3); // snapshot at rev 3
  stored.snapshot_rev = 3;
  stored.log = logged(d, 2, 5);
  auto restored = document::restore(stored, {});
  REQUIRE(restored);
  CHECK(restored->text().str() == d.text().str());
  CHECK(restored->rev() == 5);
  CHECK(restored->last_ts() == d.last_ts());
  CHECK(restored->oldest_base() == 1);
  CHECK(restored->text_at(1) == d.text_at(1));
  // A stale edit based on rev 2 still transforms after the reload.
  auto stale = edit_by("b", 1, 2, operation{}.retain(2).insert("!"));
  REQUIRE(restored->submit(stale, 200));
  // And a resend of a5 is recognised.
  auto resend = edit_by("a", 5, 4, operation{}.insert("5"));
  auto r = restored->submit(resend, 201);
  REQUIRE(r);
  CHECK(r->duplicate);

  stored.log.erase(stored.log.begin() + 2); // rev 4 missing: a gap
  auto broken = document::restore(stored, {});
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == errc::internal);
}

TEST_CASE("document history keeps to its byte limit, never past what is durable") {
  document_limits limits;
  limits.history_bytes = 64 * 1024;
  auto d = fresh(conflict_policy::lww, limits);
  std::vector<std::string> texts{d.text().str()};
  const std::string paste(16 * 1024, 'p');
  for (std::uint64_t i = 1; i <= 20; ++i) {
    // Replace everything with a 16 KiB paste: 32 KiB kept per revision.
    auto e = edit_by("a", i, d.rev(), operation{}.insert(paste + std::to_string(i)).erase(d.text().size()));
    REQUIRE(d.submit(e, 1000));
    texts.push_back(d.text().str());
  }
  // Nothing is durable yet: every revision stays, the committed text is
  // rebuilt from them.
  CHECK(d.history_size() == 20);
  CHECK(d.history_bytes() > 20 * 32 * 1024);
  CHECK(d.text_at(0) == texts[0]);

  d.mark_durable(10, 1000);
  CHECK(d.oldest_base() == 10); // over the limit, but 11..20 are not durable
  CHECK(d.text_at(10) == texts[10]);

  d.mark_durable(20, 1000);
  CHECK(d.history_bytes() <= limits.history_bytes);
  CHECK(d.history_size() >= 1);
  auto oldest = d.oldest_base();
  CHECK(oldest > 10);
  CHECK(d.text_at(oldest) == texts[oldest]);
  // A revision still kept transforms a stale edit; one trimmed is refused.
  auto kept = edit_by("b", 1, oldest, operation{}.insert("k"));
  CHECK(d.submit(kept, 1000));
  auto gone = edit_by("b", 2, oldest - 1, operation{}.insert("g"));
  auto r = d.submit(gone, 1000);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::rev_too_old);
}

TEST_CASE("document history drops old revisions but keeps the newest few") {
  document_limits limits;
  limits.history_age_ms = 1000;
  limits.history_min = 3;
  auto d = fresh(conflict_policy::lww, limits);
  for (std::uint64_t i = 1; i <= 10; ++i) {
    auto e = edit_by("a", i, d.rev(), operation{}.insert("x"));
    REQUIRE(d.submit(e, 1000 * i)); // revision i made at i seconds
  }
  d.mark_durable(10, 8500); // revisions 1..7 are over a second old
  CHECK(d.oldest_base() == 7);
  CHECK(d.history_size() == 3);
  d.mark_durable(10, 100000); // all old now, but the newest three stay
  CHECK(d.history_size() == 3);
}

TEST_CASE("document restored from a long op log keeps to its limits") {
  auto d = fresh();
  const std::string paste(8 * 1024, 'q');
  stored_document stored;
  stored.id = "d";
  stored.snapshot = d.text().str();
  for (std::uint64_t i = 1; i <= 12; ++i) {
    auto e = edit_by("a", i, d.rev(), operation{}.insert(paste).erase(d.text().size()));
    REQUIRE(d.submit(e, 100 + i));
    stored.log.push_back(*d.entry(i));
  }
  document_limits limits;
  limits.history_bytes = 40 * 1024; // room for two revisions of 16 KiB
  auto restored = document::restore(stored, limits);
  REQUIRE(restored);
  CHECK(restored->text().str() == d.text().str());
  CHECK(restored->history_bytes() <= limits.history_bytes);
  CHECK(restored->history_size() == 2);
  CHECK(restored->text_at(10) == d.text_at(10));
}
