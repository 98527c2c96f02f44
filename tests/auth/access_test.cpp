#include "auth/access.hpp"

#include <doctest/doctest.h>

using namespace stet::auth;

TEST_CASE("roles: owner, grants, public and open documents") {
  document_access doc{7, false, {{8, role::editor}, {9, role::viewer}}};
  CHECK(role_of(doc, 7) == role::owner);
  CHECK(role_of(doc, 8) == role::editor);
  CHECK(role_of(doc, 9) == role::viewer);
  CHECK(role_of(doc, 10) == role::none);
  CHECK(role_of(doc, 0) == role::none);
  doc.is_public = true;
  CHECK(role_of(doc, 10) == role::viewer);
  CHECK(role_of(doc, 0) == role::viewer);
  CHECK(role_of(doc, 8) == role::editor);
  document_access open{0, false, {}};
  CHECK(role_of(open, 0) == role::editor);
  CHECK(can_edit(role::owner));
  CHECK_FALSE(can_edit(role::viewer));
  CHECK_FALSE(can_view(role::none));
}

TEST_CASE("access_tracker: per user, the newest change wins in whatever order changes arrive") {
  access_tracker t{{7, false, {{8, role::editor}}, 5}};
  // A grant (v6) and its revoke (v7), published by two nodes, heard
  // revoke first: the late grant must not undo the revoke.
  CHECK(t.hear(8, role::none, 7));
  CHECK_FALSE(t.hear(8, role::editor, 6));
  CHECK(role_of(t.current(), 8) == role::none);
  // Changes to other users are independent of each other's versions.
  CHECK(t.hear(9, role::viewer, 6));
  CHECK(role_of(t.current(), 9) == role::viewer);
  // Anything the last read already holds is old news.
  CHECK_FALSE(t.hear(10, role::editor, 5));
  CHECK(role_of(t.current(), 10) == role::none);
}

TEST_CASE("access_tracker: a read keeps the changes heard that are newer than it") {
  access_tracker t{{7, false, {{8, role::editor}}, 5}};
  CHECK(t.hear(8, role::none, 8)); // revoked while a read (of v6) was in flight
  CHECK(t.hear(9, role::viewer, 6));
  t.reread({7, false, {{8, role::editor}, {9, role::viewer}}, 6});
  CHECK(t.current().version == 6);
  CHECK(role_of(t.current(), 8) == role::none); // v8 stays on top of the v6 read
  CHECK(role_of(t.current(), 9) == role::viewer);
  // A later read that includes v8 replaces the change heard.
  t.reread({7, false, {{9, role::viewer}}, 8});
  CHECK_FALSE(t.hear(8, role::editor, 8)); // the same change again: a replay
  CHECK(role_of(t.current(), 8) == role::none);
  // A read older than the one held is ignored.
  t.reread({7, false, {{8, role::editor}}, 4});
  CHECK(role_of(t.current(), 8) == role::none);
  CHECK(t.current().version == 8);
}
