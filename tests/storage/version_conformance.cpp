// Named versions, against every backend (see store_conformance.hpp).
#include "tests/storage/store_conformance.hpp"

#include <doctest/doctest.h>

namespace stet::test {

using namespace storage;

void run_version_conformance(const store_factory& open) {
  auto s = open(false);
  REQUIRE(s);
  document_row row;
  row.id = "versioned";
  REQUIRE(s->create_document(row));
  auto ada = s->create_user({0, "version-author", "", "$argon2id$fake", 0});
  REQUIRE(ada);

  auto none = s->list_versions("versioned");
  REQUIRE(none);
  CHECK(none->empty());

  // Text that a backend might mangle: quotes, multi-byte UTF-8, newlines.
  const std::string text = "first draft 'quoted' \"twice\"\n\xF0\x9F\xA6\x80 \xC3\xA9";
  version_row v{0, "versioned", "Draft \xE2\x80\x94 1", 7, ada->id, "", 1234, text};
  auto first = s->create_version(v);
  REQUIRE_MESSAGE(first, (first ? "" : first.error().message));
  CHECK(first->id > 0);
  CHECK(first->rev == 7);
  v.name = "anonymous";
  v.author_id = 0;
  v.rev = 9;
  v.content = "";
  auto second = s->create_version(v);
  REQUIRE(second);
  CHECK(second->id > first->id);

  auto list = s->list_versions("versioned");
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].name == "Draft \xE2\x80\x94 1");
  CHECK((*list)[0].author == "version-author");
  CHECK((*list)[0].author_id == ada->id);
  CHECK((*list)[0].created_at == 1234);
  CHECK((*list)[0].content.empty()); // lists leave the text out
  CHECK((*list)[1].author.empty());
  CHECK((*list)[1].rev == 9);

  auto found = s->find_version("versioned", first->id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->content == text);
  CHECK((*found)->rev == 7);
  // A version is found only under its own document.
  REQUIRE(s->create_document(document_row{"versions-elsewhere"}));
  auto elsewhere = s->find_version("versions-elsewhere", first->id);
  REQUIRE(elsewhere);
  CHECK_FALSE(elsewhere->has_value());
  CHECK_FALSE(s->find_version("versioned", 999999)->has_value());

  // Durable, and the author's name goes when the account does.
  s.reset();
  s = open(true);
  REQUIRE(s->delete_user(ada->id));
  auto kept = s->find_version("versioned", first->id);
  REQUIRE(kept);
  REQUIRE(kept->has_value());
  CHECK((*kept)->content == text);
  CHECK((*kept)->author_id == 0);
  CHECK((*kept)->author.empty());

  // Bounded: each version is a copy of the text.
  auto count = s->list_versions("versioned");
  REQUIRE(count);
  for (auto n = count->size(); n < k_max_versions_per_document; ++n)
    REQUIRE(s->create_version({0, "versioned", "v" + std::to_string(n), 1, 0, "", 1, "x"}));
  auto over = s->create_version({0, "versioned", "one too many", 1, 0, "", 1, "x"});
  REQUIRE_FALSE(over);
  CHECK(over.error().code == errc::invalid_argument);

  // One version deleted: gone from the list, and a second delete finds nothing.
  auto last = s->list_versions("versioned");
  REQUIRE(last);
  auto victim = last->back().id;
  auto gone = s->delete_version("versioned", victim);
  REQUIRE(gone);
  CHECK(*gone);
  CHECK_FALSE(s->find_version("versioned", victim)->has_value());
  CHECK_FALSE(*s->delete_version("versioned", victim));
  CHECK_FALSE(*s->delete_version("versions-elsewhere", first->id)); // only under its own document
  REQUIRE(s->create_version({0, "versioned", "room again", 1, 0, "", 1, "x"}));

  // Deleting the document deletes its versions.
  REQUIRE(s->delete_document("versioned"));
  auto after = s->list_versions("versioned");
  REQUIRE(after);
  CHECK(after->empty());
  // A version of a document that is gone is refused.
  CHECK_FALSE(s->create_version({0, "versioned", "late", 1, 0, "", 1, "x"}));
}

} // namespace stet::test
