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

TEST_CASE("comment threads: each limit refuses with a clear error, and deleting gives room back") {
  auto refused = [](const comment_threads& t, const comment_action& a) {
    auto st = t.check(a, 10);
    return !st && st.error().code == errc::invalid_argument;
  };
  comment_threads text{{.max_text_bytes = 8}};
  CHECK(refused(text, open_at(0, 1, "123456789")));
  CHECK(text.check(open_at(0, 1, "12345678"), 10));
  CHECK(refused(text, open_at(0, 1, "tab\tand\nnewline are text, \x01 is not")));
  CHECK(text.check(open_at(0, 1, "a\tb\nc"), 10));

  comment_threads replies{{.max_entries = 2}};
  replies.apply(open_at(0, 1, "first"), 1, 0, 0);
  replies.apply(on_thread(comment_kind::reply, 1, "second"), 2, 0, 0);
  CHECK(refused(replies, on_thread(comment_kind::reply, 1, "third")));
  CHECK(replies.check(on_thread(comment_kind::resolve, 1), 10));

  comment_threads all{{.max_all_entries = 3}};
  all.apply(open_at(0, 1, "a"), 1, 0, 0);
  all.apply(open_at(0, 1, "b"), 2, 0, 0);
  all.apply(on_thread(comment_kind::reply, 1, "c"), 3, 0, 0);
  CHECK(refused(all, open_at(0, 1, "d")));
  all.apply(on_thread(comment_kind::remove, 1), 4, 0, 0); // two messages back
  CHECK(all.check(open_at(0, 1, "d"), 10));

  // Bytes count each message's text and name and a fixed overhead, so
  // many tiny messages are bounded too.
  comment_threads bytes{{.max_total_bytes = 2 * k_entry_overhead + 10}};
  auto named = open_at(0, 1, "12345");
  named.user = "ann";
  bytes.apply(named, 1, 1, 0);
  CHECK(bytes.check(open_at(0, 1, "12"), 10));
  CHECK(refused(bytes, open_at(0, 1, "123")));
  bytes.apply(on_thread(comment_kind::remove, 1), 2, 0, 0);
  CHECK(bytes.check(open_at(0, 1, "1234567890"), 10));

  comment_threads threads{{.max_threads = 2}};
  threads.apply(open_at(0, 1, "a"), 1, 0, 0);
  threads.apply(open_at(0, 1, "b"), 2, 0, 0);
  CHECK(refused(threads, open_at(0, 1, "c")));
  CHECK(threads.check(on_thread(comment_kind::reply, 2, "still fine"), 10));
}

// The rule stated one position at a time, as a walk over the components:
// position_mover must agree with it for every position at once.
std::size_t reference_move(std::size_t pos, const operation& op, bool stay) {
  std::size_t at = 0, out = pos;
  for (auto& c : op.components()) {
    if (at > pos)
      break;
    if (c.kind == component_kind::retain) {
      at += c.length;
    } else if (c.kind == component_kind::insert) {
      if (at < pos || (at == pos && !stay))
        out += c.length;
    } else {
      out -= std::min(c.length, pos > at ? pos - at : 0);
      at += c.length;
    }
  }
  return out;
}

TEST_CASE("comment anchors: every thread moved in one pass lands where the per-position rule says") {
  const std::vector<std::string> alphabet{"a", "\xC3\xA9", "\xF0\x9F\x98\x80"};
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng{seed};
    std::size_t length = 1 + rng() % 40;
    comment_threads all;
    std::vector<comment_thread> alone;
    for (std::uint64_t id = 1; id <= 30; ++id) {
      auto start = rng() % length;
      auto a = open_at(start, start + 1 + rng() % (length - start));
      all.apply(a, id, 0, 0);
      alone.push_back(*all.find(id));
    }
    for (int step = 0; step < 6; ++step) {
      auto op = test::random_operation(rng, length, alphabet);
      all.move(op);
      for (auto& t : alone) {
        bool was_detached = t.detached;
        auto start = reference_move(t.start, op, false);
        auto end = was_detached ? start : reference_move(t.end, op, true);
        move_thread(t, op);
        CAPTURE(seed);
        CHECK(t.start == start);
        CHECK(t.end == (end <= start ? start : end));
        CHECK(t.detached == (was_detached || end <= start));
        CHECK(*all.find(t.id) == t);
      }
      length = static_cast<std::size_t>(static_cast<std::ptrdiff_t>(length) + op.length_delta());
      if (length == 0)
        break;
    }
  }
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

TEST_CASE("comment threads: a stored thread that does not fit its snapshot refuses to open, naming it") {
  stored_document stored{"d", conflict_policy::lww, "short", 4, 0, {}, {}, {}};
  stored.comments[3] = comment_thread{3, 2, 9, false, false, {{3, 0, "", "x", 0}}};
  auto r = document::restore(stored, {});
  REQUIRE(!r);
  CHECK(r.error().code == errc::internal);
  CHECK(r.error().detail.find("comment thread 3") != std::string::npos);
  stored.comments[3].end = 5;
  CHECK(document::restore(stored, {}));
  stored.comments[7] = comment_thread{7, 0, 1, false, false, {{7, 0, "", "from the future", 0}}};
  CHECK(!document::restore(stored, {})); // opened after the snapshot's revision
}
