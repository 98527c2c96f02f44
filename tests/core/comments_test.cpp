#include "core/comments.hpp"

#include "core/document.hpp"
#include "core/text_buffer.hpp"
#include "core/utf8.hpp"
#include "tests/test_support.hpp"

#include <doctest/doctest.h>

#include <random>
#include <variant>

using namespace stet;

namespace {

comment_action open_at(std::size_t start, std::size_t end, std::string text = "note") {
  comment_action a;
  a.kind = comment_kind::open;
  a.start = start;
  a.end = end;
  a.text = std::move(text);
  return a;
}

comment_action on_thread(comment_kind kind, std::uint64_t thread, std::string text = {}) {
  comment_action a;
  a.kind = kind;
  a.thread = thread;
  a.text = std::move(text);
  return a;
}

stet::edit comment_edit(std::string client, std::uint64_t seq, std::uint64_t base, comment_action a) {
  stet::edit e{std::move(client), 7, seq, base, operation{}};
  e.comment = std::move(a);
  return e;
}

stet::edit text_edit(std::string client, std::uint64_t seq, std::uint64_t base, operation op) {
  return stet::edit{std::move(client), 0, seq, base, std::move(op)};
}

// An independent model of an anchored range: the text as a sequence of
// characters and two markers that are never deleted. An insert in a gap
// holding the start marker goes before it, one in a gap holding the end
// marker after it: the rule move_thread states in positions.
struct marked_text {
  enum marker { start_mark, end_mark };
  struct chr {
    bool commented; // one of the characters the thread was opened on (for debugging)
  };
  std::vector<std::variant<chr, marker>> items;
  /// Once nothing was left between the markers after an edit, for good.
  bool detached = false;

  marked_text(std::size_t length, std::size_t start, std::size_t end) {
    for (std::size_t i = 0; i <= length; ++i) {
      if (i == start)
        items.emplace_back(start_mark);
      if (i == end)
        items.emplace_back(end_mark);
      if (i < length)
        items.emplace_back(chr{i >= start && i < end});
    }
  }

  void apply(const operation& op) {
    std::size_t i = 0; // index into items: the gap before items[i]
    auto skip_markers_before_text = [&](bool for_insert) {
      // In a gap, markers sit between characters: an insert passes end
      // markers (text after the range) and stops at a start marker.
      while (i < items.size() && std::holds_alternative<marker>(items[i])) {
        if (for_insert && std::get<marker>(items[i]) == start_mark)
          return;
        ++i;
      }
    };
    for (auto& c : op.components()) {
      switch (c.kind) {
        case component_kind::retain:
          for (std::size_t n = 0; n < c.length; ++n) {
            skip_markers_before_text(false);
            ++i;
          }
          break;
        case component_kind::insert:
          skip_markers_before_text(true);
          for (std::size_t n = 0; n < c.length; ++n)
            items.insert(items.begin() + static_cast<std::ptrdiff_t>(i++), chr{false});
          break;
        case component_kind::erase:
          for (std::size_t n = 0; n < c.length; ++n) {
            skip_markers_before_text(false);
            items.erase(items.begin() + static_cast<std::ptrdiff_t>(i));
          }
          break;
      }
    }
    detached = detached || !any_between();
  }

  // Characters before the marker.
  std::size_t position_of(marker m) const {
    std::size_t pos = 0;
    for (auto& it : items) {
      if (auto* k = std::get_if<marker>(&it); k && *k == m)
        return pos;
      if (std::holds_alternative<chr>(it))
        ++pos;
    }
    FAIL("marker missing");
    return 0;
  }
  bool any_between() const {
    bool inside = false;
    for (auto& it : items) {
      if (auto* k = std::get_if<marker>(&it))
        inside = *k == start_mark;
      else if (inside)
        return true;
    }
    return false;
  }
};

} // namespace

TEST_CASE("comment anchors: inserts at the start go before, at the end after, inside extend") {
  comment_thread t{1, 2, 5};
  move_thread(t, operation{}.retain(2).insert("ab"));
  CHECK((t.start == 4 && t.end == 7));
  move_thread(t, operation{}.retain(7).insert("z"));
  CHECK((t.start == 4 && t.end == 7));
  move_thread(t, operation{}.retain(5).insert("in"));
  CHECK((t.start == 4 && t.end == 9));
  move_thread(t, operation{}.erase(5));
  CHECK((t.start == 0 && t.end == 4 && !t.detached));
}

TEST_CASE("comment anchors: deleting all of the text detaches the thread, for good") {
  comment_thread t{1, 2, 5};
  move_thread(t, operation{}.retain(1).erase(6));
  CHECK(t.detached);
  CHECK((t.start == 1 && t.end == 1));
  move_thread(t, operation{}.insert("xx"));
  CHECK((t.detached && t.start == 3 && t.end == 3));
  move_thread(t, operation{}.retain(3).insert("back"));
  CHECK((t.detached && t.start == 7 && t.end == 7)); // an insert at its point does not re-attach it
}

TEST_CASE("comment threads: open, reply, resolve, reopen, delete, with their errors") {
  document d{"d", conflict_policy::lww, {}, "hello world"};
  auto opened = d.submit(comment_edit("c", 1, 0, open_at(6, 11, "which world?")), 1000);
  REQUIRE(opened);
  auto id = opened->rev;
  auto* t = d.comments().find(id);
  REQUIRE(t);
  CHECK((t->start == 6 && t->end == 11 && t->entries.size() == 1 && t->entries[0].user_id == 7));
  CHECK(d.text().str() == "hello world"); // a comment changes no text
  REQUIRE(d.submit(comment_edit("c", 2, d.rev(), on_thread(comment_kind::reply, id, "this one")), 1001));
  REQUIRE(d.submit(comment_edit("c", 3, d.rev(), on_thread(comment_kind::resolve, id)), 1002));
  CHECK(d.comments().find(id)->resolved);
  REQUIRE(d.submit(comment_edit("c", 4, d.rev(), on_thread(comment_kind::reopen, id)), 1003));
  CHECK(!d.comments().find(id)->resolved);
  CHECK(d.comments().find(id)->entries.size() == 2);
  CHECK(d.entry(id + 1)->comment->text == "this one");

  CHECK(d.submit(comment_edit("c", 5, d.rev(), on_thread(comment_kind::reply, 999, "x")), 1004).error().code
        == errc::unknown_document);
  CHECK(d.submit(comment_edit("c", 6, d.rev(), open_at(3, 3)), 1005).error().code == errc::invalid_argument);
  CHECK(d.submit(comment_edit("c", 7, d.rev(), open_at(3, 12)), 1005).error().code == errc::invalid_argument);
  CHECK(d.submit(comment_edit("c", 8, d.rev(), open_at(1, 2, "")), 1005).error().code == errc::invalid_argument);
  CHECK(d.submit(comment_edit("c", 9, d.rev(), open_at(1, 2, std::string("a\0b", 3))), 1005).error().code
        == errc::nul_character);
  auto both = comment_edit("c", 10, d.rev(), open_at(1, 2));
  both.op = operation{}.insert("x");
  CHECK(d.submit(both, 1005).error().code == errc::invalid_argument);
  auto rev = d.rev();
  REQUIRE(d.submit(comment_edit("c", 11, d.rev(), on_thread(comment_kind::remove, id)), 1006));
  CHECK(d.comments().find(id) == nullptr);
  CHECK(d.rev() == rev + 1);
}

TEST_CASE("comment threads: a comment on text deleted meanwhile is refused; a resend applies once") {
  document d{"d", conflict_policy::merge, {}, "hello world"};
  REQUIRE(d.submit(text_edit("t", 1, 0, operation{}.retain(5).erase(6)), 1000));
  CHECK(d.submit(comment_edit("c", 1, 0, open_at(6, 11)), 1001).error().code == errc::invalid_argument);
  auto first = d.submit(comment_edit("c", 2, 0, open_at(0, 5)), 1002);
  REQUIRE(first);
  auto again = d.submit(comment_edit("c", 2, 0, open_at(0, 5)), 1003);
  REQUIRE(again);
  CHECK((again->duplicate && again->rev == first->rev));
  CHECK(d.comments().threads().size() == 1);
}

TEST_CASE("comment threads: limits on text, replies, bytes and threads") {
  comment_limits limits{3, 2, 8, 15};
  comment_threads threads{limits};
  CHECK(threads.check(open_at(0, 1, "123456789"), 10).error().code == errc::invalid_argument); // one message
  REQUIRE(threads.check(open_at(0, 1, "12345678"), 10));
  threads.apply(open_at(0, 1, "12345678"), 1, 0, 0);
  REQUIRE(threads.check(on_thread(comment_kind::reply, 1, "ok"), 10));
  threads.apply(on_thread(comment_kind::reply, 1, "ok"), 2, 0, 0);
  CHECK(threads.check(on_thread(comment_kind::reply, 1, "ok"), 10).error().code == errc::invalid_argument); // replies
  CHECK(threads.check(open_at(0, 1, "123456"), 10).error().code == errc::invalid_argument); // 10 + 6 bytes
  REQUIRE(threads.check(open_at(0, 1, "12345"), 10));
  threads.apply(open_at(0, 1, "12345"), 3, 0, 0);
  threads.apply(on_thread(comment_kind::remove, 1), 4, 0, 0); // gives back its 10 bytes
  CHECK(threads.threads().size() == 1);
  threads.apply(open_at(0, 1, "a"), 5, 0, 0);
  threads.apply(open_at(0, 1, "b"), 6, 0, 0);
  CHECK(threads.check(open_at(0, 1, "c"), 10).error().code == errc::invalid_argument); // threads
  CHECK(threads.check(on_thread(comment_kind::resolve, 5), 10));
}

// The property: through any concurrent edits, ordered and transformed by
// the document under either policy, a thread covers exactly what the
// marker model says (the surviving commented text and whatever was typed
// inside it), it is detached exactly when an edit left nothing between
// the markers, and a restore from the stored log and snapshot has the same
// threads.
TEST_CASE("comment anchors follow concurrent edits as the transform moves text (property)") {
  const std::vector<std::string> alphabet{"a", "b", "\xC3\xA9", "\xF0\x9F\x98\x80"};
  int detached_seen = 0, attached_seen = 0;
  for (std::uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng{seed};
    auto policy = seed % 2 ? conflict_policy::lww : conflict_policy::merge;
    auto initial = test::random_text(rng, 4 + rng() % 30, alphabet);
    document d{"d", policy, {}, initial};
    std::vector<history_entry> log;
    std::uint64_t seq = 0;
    auto random_edit = [&] {
      // A stale base: the edit was made concurrently with the last few.
      auto base = d.rev() - std::min<std::uint64_t>(d.rev(), rng() % 4);
      auto length = utf8::length(d.text_at(base));
      auto out = d.submit(text_edit("t" + std::to_string(rng() % 3), ++seq, base,
                                    test::random_operation(rng, length, alphabet)),
                          1000 + seq);
      REQUIRE(out);
      log.push_back(*d.entry(d.rev()));
    };
    for (int i = 0, n = static_cast<int>(rng() % 4); i < n; ++i)
      random_edit();
    // The comment is made against a revision a little behind too.
    auto base = d.rev() - std::min<std::uint64_t>(d.rev(), rng() % 3);
    auto base_text = d.text_at(base);
    auto length = utf8::length(base_text);
    if (length == 0)
      continue;
    auto start = rng() % length;
    auto end = start + 1 + rng() % (length - start);
    marked_text model{length, start, end};
    for (auto r = base + 1; r <= d.rev(); ++r)
      model.apply(d.entry(r)->op);
    auto opened = d.submit(comment_edit("c", 1, base, open_at(start, end)), 5000);
    if (model.detached) {
      CHECK(!opened);
      continue;
    }
    REQUIRE(opened);
    log.push_back(*d.entry(d.rev()));
    auto snapshot_rev = d.rev();
    auto snapshot_text = d.text().str();
    auto snapshot_threads = d.comments().threads();
    for (int i = 0, n = 1 + static_cast<int>(rng() % 8); i < n; ++i) {
      random_edit();
      model.apply(log.back().op);
    }
    auto* t = d.comments().find(opened->rev);
    REQUIRE(t);
    auto expect_start = model.position_of(marked_text::start_mark);
    bool detached = model.detached;
    CAPTURE(seed);
    CHECK(t->detached == detached);
    CHECK(t->start == expect_start);
    CHECK(t->end == (detached ? expect_start : model.position_of(marked_text::end_mark)));
    (detached ? detached_seen : attached_seen)++;

    // What storage would hold: the snapshot (with its threads) and the log after it.
    stored_document stored{"d", policy, snapshot_text, snapshot_rev, 0, {}, {}, snapshot_threads};
    for (auto& e : log)
      if (e.rev > snapshot_rev)
        stored.log.push_back(e);
    auto restored = document::restore(stored, {});
    REQUIRE(restored);
    CHECK(restored->comments().threads() == d.comments().threads());
    d.mark_durable(d.rev(), 0);
    CHECK(d.durable_comments().threads() == d.comments().threads());
  }
  // Both outcomes were exercised.
  CHECK(detached_seen > 10);
  CHECK(attached_seen > 100);
}

TEST_CASE("comment threads: the durable set lags the current one until marked durable") {
  document d{"d", conflict_policy::lww, {}, "hello world"};
  REQUIRE(d.submit(comment_edit("c", 1, 0, open_at(0, 5)), 1000));
  CHECK(d.durable_comments().threads().empty());
  REQUIRE(d.submit(text_edit("t", 1, 1, operation{}.insert(">> ")), 1001));
  d.mark_durable(1, 0);
  REQUIRE(d.durable_comments().threads().size() == 1);
  CHECK(d.durable_comments().threads().begin()->second.start == 0);
  d.mark_durable(2, 0);
  CHECK(d.durable_comments().threads().begin()->second.start == 3);
  CHECK(d.durable_comments().threads() == d.comments().threads());
}
