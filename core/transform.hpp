// Operational transform of two concurrent operations under stet's conflict
// policies (see DESIGN.md, "Conflict model").
#pragma once

#include "core/operation.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stet {

enum class conflict_policy {
  /// Where concurrent edits change the same text, the edit serialised later
  /// stands and the earlier one's conflicting change is undone.
  lww,
  /// Standard OT: nothing inserted is ever lost; concurrent inserts at one
  /// position are ordered by serialisation (earlier first).
  merge,
};

std::string_view to_string(conflict_policy p) noexcept;
std::optional<conflict_policy> parse_conflict_policy(std::string_view name) noexcept;

/// One change of the earlier operation that `lww` undid: a maximal run of
/// insert/erase components at `position` (code points, in the common base).
struct dropped_change {
  std::size_t position;
  /// Text the earlier edit inserted there, now removed again.
  std::string inserted;
  /// Text the earlier edit erased there, now restored (less what the later
  /// edit erased itself).
  std::string erased;
};

struct transform_result {
  /// `earlier` rewritten to apply after `later`.
  operation earlier;
  /// `later` rewritten to apply after `earlier`.
  operation later;
  /// Changes of `earlier` that `lww` undid (always empty for `merge`).
  std::vector<dropped_change> dropped;
};

/// Transforms two operations made against the same document, where `earlier`
/// was serialised first. For every document d both fit:
/// apply(apply(d, earlier), result.later) == apply(apply(d, later), result.earlier).
/// Under `lww`, undoing an earlier erase needs its removed text: every
/// committed operation carries it (`apply` records it); a conflicting change
/// whose removed text is unknown is kept as under `merge`.
transform_result transform(const operation& earlier, const operation& later, conflict_policy policy);

/// Rewrites `later` into transform(earlier, later, policy).later, appending
/// what lww dropped to `dropped`: all a server applying an edit with an old
/// base needs, without rewriting `earlier`. Most revisions such an edit
/// missed changed text it retains: then one retain of `later` changes
/// length in place, with no copy of its text, so the cost of a stale edit
/// does not grow with its size times its age.
void transform_later(const operation& earlier, operation& later, conflict_policy policy,
                     std::vector<dropped_change>& dropped);

} // namespace stet
