#include "core/transform.hpp"

#include "core/component_cursor.hpp"

#include <algorithm>
#include <optional>

namespace stet {

std::string_view to_string(conflict_policy p) noexcept {
  return p == conflict_policy::lww ? "lww" : "merge";
}

std::optional<conflict_policy> parse_conflict_policy(std::string_view name) noexcept {
  if (name == "lww")
    return conflict_policy::lww;
  if (name == "merge")
    return conflict_policy::merge;
  return std::nullopt;
}

namespace {

void push(operation& op, const component_view& p) {
  switch (p.kind) {
    case component_kind::retain: op.retain(p.length); break;
    case component_kind::insert: op.insert(p.text, p.length); break;
    case component_kind::erase: op.erase(p.length, p.text); break;
  }
}

// With `Both` false only `later` is rewritten: a server applying an
// incoming edit never needs the committed ones rewritten, and skipping them
// saves copying their text on every transform.
template <bool Both>
transform_result transform_merge(const operation& a, const operation& b) {
  component_cursor ca{a}, cb{b};
  transform_result r;
  auto& a2 = r.earlier;
  auto& b2 = r.later;
  // Each output has at most one component per input component of either.
  auto most = a.components().size() + b.components().size();
  b2.reserve(most);
  if constexpr (Both)
    a2.reserve(most);
  for (;;) {
    // Inserts first; on a tie the earlier edit's text goes first.
    if (!ca.done() && ca.kind() == component_kind::insert) {
      auto n = ca.remaining();
      b2.retain(n);
      if constexpr (Both)
        push(a2, ca.take_view(n));
      else
        ca.skip(n);
      continue;
    }
    if (!cb.done() && cb.kind() == component_kind::insert) {
      auto p = cb.take_view(cb.remaining());
      if constexpr (Both)
        a2.retain(p.length);
      push(b2, p);
      continue;
    }
    if (ca.done() && cb.done())
      break;
    // An exhausted operation retains the rest of the document.
    auto n = ca.done()   ? cb.remaining()
             : cb.done() ? ca.remaining()
                         : std::min(ca.remaining(), cb.remaining());
    auto a_kind = ca.done() ? component_kind::retain : ca.kind();
    auto b_kind = cb.done() ? component_kind::retain : cb.kind();
    if (a_kind == component_kind::retain && b_kind == component_kind::retain) {
      if constexpr (Both)
        a2.retain(n);
      b2.retain(n);
    }
    // An erase survives only against a retain (both erasing the same text:
    // it is gone either way). Pieces not kept are skipped, not copied.
    bool keep_a = Both && a_kind == component_kind::erase && b_kind == component_kind::retain;
    bool keep_b = a_kind == component_kind::retain && b_kind == component_kind::erase;
    if (!ca.done()) {
      if (keep_a)
        push(a2, ca.take_view(n));
      else
        ca.skip(n);
    }
    if (!cb.done()) {
      if (keep_b)
        push(b2, cb.take_view(n));
      else
        cb.skip(n);
    }
  }
  return r;
}

// A maximal run of insert/erase components, in base coordinates. Its
// texts are only gathered (text_of) for runs lww drops: most transforms
// find no conflict and need positions and lengths alone.
struct change {
  std::size_t position = 0;
  std::size_t erased = 0; // code points
  std::size_t inserted = 0;
  std::size_t first = 0, last = 0; // its components: [first, last)
  bool erased_text_known = true;
};

// Calls `f` with each change of `op` in order, until `f` returns false.
template <class F>
void for_each_change(const operation& op, F f) {
  std::size_t pos = 0;
  std::optional<change> run;
  auto& cs = op.components();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    auto& c = cs[i];
    if (c.kind == component_kind::retain) {
      if (run && !f(*run))
        return;
      run.reset();
      pos += c.length;
      continue;
    }
    if (!run) {
      run.emplace();
      run->position = pos;
      run->first = i;
    }
    run->last = i + 1;
    if (c.kind == component_kind::insert) {
      run->inserted += c.length;
    } else {
      run->erased += c.length;
      run->erased_text_known = run->erased_text_known && !c.text.empty();
      pos += c.length;
    }
  }
  if (run)
    f(*run);
}

std::vector<change> changes_of(const operation& op) {
  std::vector<change> out;
  for_each_change(op, [&](const change& ch) {
    out.push_back(ch);
    return true;
  });
  return out;
}

// The op's only change, if it has exactly one (most edits: a keystroke, a
// paste, a replacement), found without allocating.
bool only_change(const operation& op, change& out) {
  int seen = 0;
  for_each_change(op, [&](const change& ch) {
    out = ch;
    return ++seen < 2;
  });
  return seen == 1;
}

std::string text_of(const operation& op, const change& ch, component_kind kind) {
  std::string out;
  for (auto i = ch.first; i < ch.last; ++i)
    if (op.components()[i].kind == kind)
      out += op.components()[i].text;
  return out;
}

bool strictly_inside(std::size_t point, std::size_t first, std::size_t count) {
  return first < point && point < first + count;
}

bool conflicts(const change& e, const change& l) {
  bool erases_overlap = e.erased > 0 && l.erased > 0
                        && std::max(e.position, l.position)
                             < std::min(e.position + e.erased, l.position + l.erased);
  bool e_inserts_in_l = e.inserted > 0 && strictly_inside(e.position, l.position, l.erased);
  bool l_inserts_in_e = l.inserted > 0 && strictly_inside(l.position, e.position, e.erased);
  return erases_overlap || e_inserts_in_l || l_inserts_in_e;
}

template <bool Both>
transform_result transform_impl(const operation& earlier, const operation& later, conflict_policy policy) {
  if (policy == conflict_policy::merge)
    return transform_merge<Both>(earlier, later);
  // The common case, one change against one that does not conflict, needs
  // no lists: an edit arriving with an old base meets hundreds of these.
  if (change e, l; only_change(earlier, e) && only_change(later, l) && !(e.erased_text_known && conflicts(e, l)))
    return transform_merge<Both>(earlier, later);
  auto e_changes = changes_of(earlier);
  auto l_changes = changes_of(later);
  std::vector<bool> drop(e_changes.size(), false);
  bool any = false;
  // Both lists are sorted by position; only changes whose spans touch can
  // conflict, so a window over l_changes suffices.
  std::size_t first_l = 0;
  for (std::size_t i = 0; i < e_changes.size(); ++i) {
    auto& e = e_changes[i];
    while (first_l < l_changes.size()
           && l_changes[first_l].position + l_changes[first_l].erased < e.position)
      ++first_l;
    for (auto j = first_l; j < l_changes.size() && l_changes[j].position <= e.position + e.erased; ++j) {
      if (e.erased_text_known && conflicts(e, l_changes[j])) {
        drop[i] = true;
        any = true;
        break;
      }
    }
  }
  if (!any)
    return transform_merge<Both>(earlier, later);

  // kept: `earlier` without its dropped changes, over the common base.
  // undo: over the document after `earlier`, turns it into base + kept.
  operation kept, undo;
  std::size_t index = 0;
  bool in_change = false;
  for (auto& c : earlier.components()) {
    if (c.kind == component_kind::retain) {
      kept.retain(c.length);
      undo.retain(c.length);
      in_change = false;
      continue;
    }
    if (!in_change) {
      in_change = true;
      auto& ch = e_changes[index];
      if (drop[index]) {
        kept.retain(ch.erased);
        undo.insert(text_of(earlier, ch, component_kind::erase), ch.erased);
        undo.erase(ch.inserted, text_of(earlier, ch, component_kind::insert));
      }
      ++index;
    }
    if (drop[index - 1])
      continue;
    kept.push(c);
    if (c.kind == component_kind::insert)
      undo.retain(c.length); // a kept insert stays in place
  }
  auto merged = transform_merge<Both>(kept, later);
  transform_result r;
  r.earlier = std::move(merged.earlier);
  r.later = compose(undo, merged.later);
  for (std::size_t i = 0; i < e_changes.size(); ++i)
    if (drop[i])
      r.dropped.push_back({e_changes[i].position, text_of(earlier, e_changes[i], component_kind::insert),
                           text_of(earlier, e_changes[i], component_kind::erase)});
  return r;
}

} // namespace

transform_result transform(const operation& earlier, const operation& later, conflict_policy policy) {
  return transform_impl<true>(earlier, later, policy);
}

// transform_later when the earlier edit's one change (at `position`, in
// base coordinates) lies within a stretch `later` retains, or past all of
// its changes: only that retain's length changes, or nothing does. Such
// changes touch none of later's, so no policy sees a conflict. Returns
// false, `later` untouched, where the two meet (overlap, or an insert at
// the very position of one of later's, which goes first) or where the
// retain would vanish between two changes (they would have to merge).
bool shift_past(std::size_t position, std::size_t erased, std::size_t inserted, operation& later) {
  auto& cs = later.components_;
  std::size_t pos = 0; // base position where cs[i] starts
  for (std::size_t i = 0; i < cs.size(); ++i) {
    auto& c = cs[i];
    if (c.kind == component_kind::insert)
      continue;
    auto stop = pos + c.length;
    if (c.kind == component_kind::retain && position + erased <= stop) {
      bool after_insert_here = position == pos && i > 0 && cs[i - 1].kind == component_kind::insert;
      if (position < pos || (inserted > 0 && after_insert_here))
        return false;
      auto length = c.length + inserted - erased;
      if (length == 0 && i > 0)
        return false;
      if (length == 0)
        cs.erase(cs.begin());
      else
        c.length = length;
      return true;
    }
    pos = stop;
  }
  if (position < pos || (inserted > 0 && position == pos && !cs.empty() && cs.back().kind == component_kind::insert))
    return false;
  // The change is in the stretch only a trailing retain covered, which said
  // how long the base was: no longer true, and nothing needs it.
  later.pending_retain_ = 0;
  return true;
}

void transform_later(const operation& earlier, operation& later, conflict_policy policy,
                     std::vector<dropped_change>& dropped) {
  if (change e; only_change(earlier, e) && shift_past(e.position, e.erased, e.inserted, later))
    return;
  auto r = transform_impl<false>(earlier, later, policy);
  for (auto& d : r.dropped)
    dropped.push_back(std::move(d));
  later = std::move(r.later);
}

} // namespace stet
