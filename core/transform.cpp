#include "core/transform.hpp"

#include "core/component_cursor.hpp"

#include <algorithm>

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

transform_result transform_merge(const operation& a, const operation& b) {
  component_cursor ca{a}, cb{b};
  transform_result r;
  auto& a2 = r.earlier;
  auto& b2 = r.later;
  for (;;) {
    // Inserts first; on a tie the earlier edit's text goes first.
    if (!ca.done() && ca.kind() == component_kind::insert) {
      auto p = ca.take_all();
      b2.retain(p.length);
      a2.push(p);
      continue;
    }
    if (!cb.done() && cb.kind() == component_kind::insert) {
      auto p = cb.take_all();
      a2.retain(p.length);
      b2.push(p);
      continue;
    }
    if (ca.done() && cb.done())
      break;
    // An exhausted operation retains the rest of the document.
    auto n = ca.done()   ? cb.remaining()
             : cb.done() ? ca.remaining()
                         : std::min(ca.remaining(), cb.remaining());
    auto pa = ca.done() ? component{component_kind::retain, n, {}} : ca.take(n);
    auto pb = cb.done() ? component{component_kind::retain, n, {}} : cb.take(n);
    if (pa.kind == component_kind::retain && pb.kind == component_kind::retain) {
      a2.retain(n);
      b2.retain(n);
    } else if (pa.kind == component_kind::erase && pb.kind == component_kind::retain) {
      a2.push(pa);
    } else if (pa.kind == component_kind::retain && pb.kind == component_kind::erase) {
      b2.push(pb);
    }
    // Both erase the same text: it is gone either way.
  }
  return r;
}

// A maximal run of insert/erase components, in base coordinates.
struct change {
  std::size_t position = 0;
  std::size_t erased = 0; // code points
  std::size_t inserted = 0;
  std::string inserted_text;
  std::string erased_text;
  bool erased_text_known = true;
};

std::vector<change> changes_of(const operation& op) {
  std::vector<change> out;
  std::size_t pos = 0;
  bool open = false;
  for (auto& c : op.components()) {
    if (c.kind == component_kind::retain) {
      pos += c.length;
      open = false;
      continue;
    }
    if (!open) {
      out.push_back({});
      out.back().position = pos;
      open = true;
    }
    auto& ch = out.back();
    if (c.kind == component_kind::insert) {
      ch.inserted += c.length;
      ch.inserted_text += c.text;
    } else {
      ch.erased += c.length;
      ch.erased_text += c.text;
      ch.erased_text_known = ch.erased_text_known && !c.text.empty();
      pos += c.length;
    }
  }
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

} // namespace

transform_result transform(const operation& earlier, const operation& later, conflict_policy policy) {
  if (policy == conflict_policy::merge)
    return transform_merge(earlier, later);
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
    return transform_merge(earlier, later);

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
        undo.insert(ch.erased_text, ch.erased);
        undo.erase(ch.inserted, ch.inserted_text);
      }
      ++index;
    }
    if (drop[index - 1])
      continue;
    kept.push(c);
    if (c.kind == component_kind::insert)
      undo.retain(c.length); // a kept insert stays in place
  }
  auto merged = transform_merge(kept, later);
  transform_result r;
  r.earlier = std::move(merged.earlier);
  r.later = compose(undo, merged.later);
  for (std::size_t i = 0; i < e_changes.size(); ++i)
    if (drop[i])
      r.dropped.push_back({e_changes[i].position, std::move(e_changes[i].inserted_text),
                           std::move(e_changes[i].erased_text)});
  return r;
}

} // namespace stet
