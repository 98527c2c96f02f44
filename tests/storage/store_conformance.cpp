#include "tests/storage/store_conformance.hpp"

#include <doctest/doctest.h>

namespace stet::test {

using namespace storage;

namespace {

op_row make_op(const std::string& doc, std::uint64_t rev, std::string client, std::uint64_t seq) {
  return op_row{doc, rev, "ops-" + std::to_string(rev) + std::string("\0bin", 4), std::move(client), seq, 1000 + rev};
}

} // namespace

void run_store_conformance(const store_factory& open) {
  auto s = open(false);
  REQUIRE(s);
  CHECK(s->schema_version() >= 1);

  auto missing = s->find_document("nope");
  REQUIRE(missing);
  CHECK_FALSE(missing->has_value());

  // Awkward text round-trips verbatim.
  const std::string title = "Robert'); DROP TABLE documents;-- \"quoted\" \xF0\x9F\x98\x80";
  document_row row;
  row.id = "doc'1";
  row.title = title;
  row.content = "hello";
  row.policy = "merge";
  auto created = s->create_document(row);
  REQUIRE(created);
  CHECK(created->title == title);
  CHECK(created->content == "hello");
  CHECK(created->policy == "merge");
  CHECK(created->rev == 0);
  // Creating again returns the stored row unchanged.
  row.title = "other";
  row.policy = "lww";
  auto again = s->create_document(row);
  REQUIRE(again);
  CHECK(again->title == title);

  document_row d2_row;
  d2_row.id = "d2";
  REQUIRE(s->create_document(d2_row));
  // One transaction spanning two documents.
  REQUIRE(s->commit({.ops = {make_op("doc'1", 1, "a", 1), make_op("doc'1", 2, "b", 1), make_op("d2", 1, "a", 7)}}));
  auto ops = s->ops_since("doc'1", 0);
  REQUIRE(ops);
  REQUIRE(ops->size() == 2);
  CHECK((*ops)[1].ops == make_op("doc'1", 2, "b", 1).ops); // binary-safe
  CHECK((*ops)[1].client_id == "b");
  CHECK((*ops)[1].ts == 1002);
  auto doc = s->find_document("doc'1");
  REQUIRE(doc);
  CHECK((*doc)->rev == 2);
  CHECK((*doc)->last_ts == 1002);

  // A batch that collides with a committed rev stores nothing at all.
  CHECK_FALSE(s->commit({.ops = {make_op("d2", 2, "a", 8), make_op("d2", 1, "x", 1)}}));
  // The errors say why: a rev holding another edit, a write that would
  // leave a gap in the op log (a writer behind the stored history).
  auto taken = s->commit({.ops = {make_op("d2", 1, "x", 1)}});
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == errc::fenced); // only another owner commits there
  CHECK(taken.error().message.find("already taken") != std::string::npos);
  auto gap = s->commit({.ops = {make_op("d2", 5, "a", 9)}});
  REQUIRE_FALSE(gap);
  CHECK(gap.error().code == errc::internal);
  CHECK(gap.error().message.find("gap") != std::string::npos);
  // Values the database refuses are refused for good (internal), not
  // taken for the database being away: an author who does not exist.
  auto ghost = make_op("d2", 2, "g", 1);
  ghost.author_id = 987654;
  auto refused = s->commit({.ops = {ghost}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::internal);
  auto d2 = s->ops_since("d2", 0);
  REQUIRE(d2);
  CHECK(d2->size() == 1);

  REQUIRE(s->commit({.ops = {make_op("doc'1", 3, "a", 2)}}));
  auto seqs = s->client_seqs("doc'1");
  REQUIRE(seqs);
  REQUIRE(seqs->size() == 2);
  // Keyed by author and client id: anonymous edits are user 0.
  for (auto& c : *seqs) {
    if (c.client_id == "0:a")
      CHECK((c.client_seq == 2 && c.rev == 3));
    else
      CHECK((c.client_id == "0:b" && c.client_seq == 1 && c.rev == 2));
  }

  // A retried commit of the same edits (after an ambiguous failure) is
  // accepted and stores nothing twice.
  REQUIRE(s->commit({.ops = {make_op("doc'1", 2, "b", 1), make_op("doc'1", 3, "a", 2)}}));
  auto retried = s->ops_since("doc'1", 0);
  REQUIRE(retried);
  CHECK(retried->size() == 3);

  // Sessions: who is editing now.
  REQUIRE(s->commit({.sessions = {{"s1", "doc'1", "n1", "", 100, true},
                                      {"s2", "doc'1", "n1", "", 101, true},
                                      {"s3", "doc'1", "n2", "", 101, true}}}));
  REQUIRE(s->commit({.sessions = {{"s1", "doc'1", "n1", "", 102, false}}}));
  auto open_now = s->open_sessions("doc'1");
  REQUIRE(open_now);
  REQUIRE(open_now->size() == 2);
  CHECK((*open_now)[0].session_id == "s2");
  CHECK((*open_now)[0].connected_at == 101);
  REQUIRE(s->close_node_sessions("n1", 200));
  open_now = s->open_sessions("doc'1");
  REQUIRE(open_now);
  REQUIRE(open_now->size() == 1);
  CHECK((*open_now)[0].node_id == "n2");

  // Snapshot + compaction, in the same transaction as an edit to another
  // document; a failing batch stores neither.
  CHECK_FALSE(s->commit({.ops = {make_op("d2", 1, "x", 9)}, .snapshots = {{"doc'1", "lost snapshot", 3, 2}}}));
  auto untouched = s->find_document("doc'1");
  REQUIRE((untouched && *untouched));
  CHECK((*untouched)->snapshot_rev == 0);
  // The comment threads are stored with their snapshot, byte-exact.
  const std::string threads = R"({"threads":[{"id":"2","start":0,"end":4,"entries":[{"text":"\u00e9 \" '"}]}]})";
  REQUIRE(s->commit(
    {.ops = {make_op("d2", 2, "y", 9)}, .snapshots = {{"doc'1", "snapshot text", 3, 2, threads}}}));
  // An older snapshot arriving late changes nothing.
  REQUIRE(s->commit({.snapshots = {{"doc'1", "older text", 2, 1, "older threads"}}}));
  // Identifiers with quotes and backslashes survive (PostgreSQL sends a
  // batch as array literals).
  REQUIRE(s->commit({.ops = {make_op("d2", 3, "quote\"back\\slash", 1)}}));
  auto odd = s->ops_since("d2", 2);
  REQUIRE(odd);
  REQUIRE(odd->size() == 1);
  CHECK((*odd)[0].client_id == "quote\"back\\slash");
  auto after = s->ops_since("doc'1", 0);
  REQUIRE(after);
  REQUIRE(after->size() == 1);
  CHECK((*after)[0].rev == 3);
  s.reset();

  // Everything survives a reopen.
  auto r = open(true);
  auto reloaded = r->find_document("doc'1");
  REQUIRE(reloaded);
  REQUIRE(reloaded->has_value());
  CHECK((*reloaded)->content == "snapshot text");
  CHECK((*reloaded)->comments == threads);
  CHECK((*reloaded)->snapshot_rev == 3);
  CHECK((*reloaded)->rev == 3);
  // Client sequence numbers outlive compaction: "b" has no op left in the
  // log, "a" one on each side of the snapshot.
  auto seqs2 = r->client_seqs("doc'1");
  REQUIRE(seqs2);
  REQUIRE(seqs2->size() == 2);
  for (auto& c : *seqs2) {
    if (c.client_id == "0:a")
      CHECK((c.client_seq == 2 && c.rev == 3));
    else
      CHECK((c.client_id == "0:b" && c.client_seq == 1 && c.rev == 2));
  }

  // -- leases: a commit under a superseded epoch stores nothing --
  document_row leased;
  leased.id = "leased";
  REQUIRE(r->create_document(leased));
  auto e1 = r->acquire_lease("leased", "node-a");
  REQUIRE(e1);
  auto e2 = r->acquire_lease("leased", "node-b");
  REQUIRE(e2);
  CHECK(*e2 == *e1 + 1);
  auto stale = make_op("leased", 1, "a", 1);
  stale.epoch = *e1;
  auto fenced = r->commit({.ops = {stale}});
  REQUIRE_FALSE(fenced);
  CHECK(fenced.error().code == errc::fenced);
  auto none = r->ops_since("leased", 0);
  REQUIRE(none);
  CHECK(none->empty());
  auto current = make_op("leased", 1, "b", 1);
  current.epoch = *e2;
  REQUIRE(r->commit({.ops = {current}}));
  CHECK((*r->find_document("leased"))->rev == 1);
  CHECK((*r->find_document("leased"))->owner_epoch == *e2);
  CHECK_FALSE(r->acquire_lease("no-such-document", "node-a"));

  // -- accounts and access --
  const std::string tricky = "O'Brien\"; DROP TABLE users;-- \xF0\x9F\x98\x80";
  auto alice = r->create_user({0, tricky, "a@example.com", "$argon2id$fake", 0});
  REQUIRE(alice);
  CHECK(alice->id > 0);
  auto dup = r->create_user({0, tricky, "", "$argon2id$other", 0});
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == errc::invalid_argument);
  auto bob = r->create_user({0, "bob", "", "$argon2id$bob", 0});
  REQUIRE(bob);
  auto found = r->find_user(tricky);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->username == tricky);
  CHECK((*found)->password_hash == "$argon2id$fake");
  CHECK((*found)->email == "a@example.com");
  auto nobody = r->find_user("nobody");
  REQUIRE(nobody);
  CHECK_FALSE(nobody->has_value());

  document_row owned;
  owned.id = "owned";
  owned.title = tricky;
  owned.owner_id = alice->id;
  owned.is_public = true;
  REQUIRE(r->create_document(owned));
  auto got = r->find_document("owned");
  REQUIRE(got);
  CHECK((*got)->owner_id == alice->id);
  CHECK((*got)->is_public);
  CHECK((*got)->title == tricky);

  auto bobs = r->list_documents(bob->id);
  REQUIRE(bobs);
  CHECK(bobs->empty());
  auto unshared = r->access_list("owned");
  REQUIRE(unshared);
  CHECK(unshared->version == 0);
  CHECK(unshared->entries.empty());
  auto v1 = r->set_role("owned", bob->id, "viewer");
  REQUIRE(v1);
  REQUIRE(r->set_role("owned", bob->id, "commenter"));
  auto v2 = r->set_role("owned", bob->id, "editor"); // update, not a second row
  REQUIRE(v2);
  CHECK(*v2 == *v1 + 2);
  auto acl = r->access_list("owned");
  REQUIRE(acl);
  CHECK(acl->version == *v2);
  REQUIRE(acl->entries.size() == 1);
  CHECK(acl->entries[0].username == "bob");
  CHECK(acl->entries[0].role == "editor");
  CHECK(r->set_role("nowhere", bob->id, "editor").error().code == errc::unknown_document);
  bobs = r->list_documents(bob->id);
  REQUIRE(bobs);
  REQUIRE(bobs->size() == 1);
  CHECK((*bobs)[0].row.id == "owned");
  CHECK((*bobs)[0].role == "editor");
  CHECK((*bobs)[0].row.content.empty()); // a listing reads no text
  auto alices = r->list_documents(alice->id);
  REQUIRE(alices);
  REQUIRE(alices->size() == 1);
  CHECK((*alices)[0].role == "owner");

  auto authored = make_op("owned", 1, "c", 1);
  authored.author_id = bob->id;
  REQUIRE(r->commit({.ops = {authored, make_op("owned", 2, "anon", 1)}}));
  auto hist = r->history("owned");
  REQUIRE(hist);
  REQUIRE(hist->size() == 2);
  CHECK((*hist)[0].author == "bob");
  CHECK((*hist)[0].author_id == bob->id);
  CHECK((*hist)[0].ts == 1001);
  CHECK((*hist)[1].author.empty());
  auto with_author = r->ops_since("owned", 0);
  REQUIRE(with_author);
  CHECK((*with_author)[0].author_id == bob->id);

  auto v3 = r->set_role("owned", bob->id, "");
  REQUIRE(v3);
  CHECK(*v3 == *v2 + 1);
  acl = r->access_list("owned");
  REQUIRE(acl);
  CHECK(acl->entries.empty());
  CHECK(acl->version == *v3);

  REQUIRE(r->delete_document("owned"));
  auto gone = r->find_document("owned");
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());
  auto gone_ops = r->ops_since("owned", 0);
  REQUIRE(gone_ops);
  CHECK(gone_ops->empty());
  // A deleted id stays deleted: neither a late join's create nor a late
  // commit of an edit brings it back, and both say why.
  document_row reborn;
  reborn.id = "owned";
  reborn.content = "second life";
  auto recreated = r->create_document(reborn);
  REQUIRE_FALSE(recreated);
  CHECK(recreated.error().code == errc::unknown_document);
  auto late = r->commit({.ops = {make_op("owned", 3, "a", 9)}});
  REQUIRE_FALSE(late);
  CHECK(late.error().code == errc::unknown_document);
  gone = r->find_document("owned");
  REQUIRE(gone);
  CHECK_FALSE(gone->has_value());
}

void run_text_conformance(const store_factory& open) {
  // U+0000 is refused by every backend, never stored cut short.
  auto s = open(false);
  REQUIRE(s);
  document_row row;
  row.id = "nul";
  row.title = std::string("a\0b", 3);
  auto refused = s->create_document(row);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::nul_character);
  row.title = "fine";
  REQUIRE(s->create_document(row));
  auto bad_snapshot = s->commit({.ops = {make_op("nul", 1, "a", 1)},
                                 .snapshots = {{"nul", std::string("before\0after", 12), 1, 0}}});
  REQUIRE_FALSE(bad_snapshot);
  CHECK(bad_snapshot.error().code == errc::nul_character);
  auto bad_client = s->commit({.ops = {make_op("nul", 1, std::string("a\0b", 3), 1)}});
  REQUIRE_FALSE(bad_client);
  CHECK(bad_client.error().code == errc::nul_character);
  // Nothing of the refused batches was stored; binary ops still are.
  REQUIRE(s->commit({.ops = {make_op("nul", 1, "a", 1)}, .snapshots = {{"nul", "after", 1, 0}}}));
  auto reopened = open(true);
  REQUIRE(reopened);
  auto found = reopened->find_document("nul");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->content == "after");
  CHECK((*found)->rev == 1);
  auto ops = reopened->ops_since("nul", 0);
  REQUIRE(ops);
  REQUIRE(ops->size() == 1);
  CHECK((*ops)[0].ops == make_op("nul", 1, "a", 1).ops);
  user_row user{0, std::string("ev\0il", 5), "", "hash", 0};
  auto bad_user = reopened->create_user(user);
  REQUIRE_FALSE(bad_user);
  CHECK(bad_user.error().code == errc::nul_character);
}

} // namespace stet::test

namespace stet::test {

void run_account_conformance(const store_factory& open) {
  auto s = open(false);
  REQUIRE(s);
  auto carol = s->create_user({0, "carol", "", "hash-1", 0});
  REQUIRE(carol);
  auto dave = s->create_user({0, "dave", "", "hash-d", 0});
  REQUIRE(dave);
  auto found = s->find_user_by_id(carol->id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->token_epoch == 0);
  // Revoking bumps the epoch; a new password comes with a revoke.
  auto first = s->revoke_tokens(carol->id);
  REQUIRE(first);
  CHECK(*first == 1);
  auto second = s->revoke_tokens(carol->id, std::string{"hash-2"});
  REQUIRE(second);
  CHECK(*second == 2);
  auto by_name = s->find_user("carol");
  REQUIRE(by_name);
  CHECK((*by_name)->password_hash == "hash-2");
  CHECK((*by_name)->token_epoch == 2);
  CHECK(s->revoke_tokens(987654).error().code == errc::unauthorized);
  // Deleting: owned documents go (tombstoned), edits elsewhere stay anonymous.
  document_row mine;
  mine.id = "carols";
  mine.owner_id = carol->id;
  REQUIRE(s->create_document(mine));
  document_row theirs;
  theirs.id = "daves";
  theirs.owner_id = dave->id;
  REQUIRE(s->create_document(theirs));
  auto shared = s->set_role("daves", carol->id, "editor");
  REQUIRE(shared);
  auto op = op_row{"daves", 1, "x", "carol-laptop", 1, 5, carol->id, 0};
  REQUIRE(s->commit({.ops = {op}}));
  auto gone = s->delete_user(carol->id);
  REQUIRE(gone);
  CHECK(*gone == std::vector<std::string>{"carols"});
  auto user = s->find_user_by_id(carol->id);
  REQUIRE(user);
  CHECK_FALSE(user->has_value());
  auto doc = s->find_document("carols");
  REQUIRE(doc);
  CHECK_FALSE(doc->has_value());
  CHECK(s->create_document(mine).error().code == errc::unknown_document);
  auto ops = s->ops_since("daves", 0);
  REQUIRE(ops);
  REQUIRE(ops->size() == 1);
  CHECK((*ops)[0].author_id == 0);
  auto acl = s->access_list("daves");
  REQUIRE(acl);
  CHECK(acl->entries.empty());
  CHECK(acl->version > *shared); // removing the grant was a change to the list
  CHECK(s->delete_user(carol->id).error().code == errc::unauthorized);

  // An identity provider's users: created once per (issuer, subject), with
  // a name no account can have, and found again after a reopen.
  auto ada = external_user(*s, "https://idp.example", "u-1");
  REQUIRE(ada);
  CHECK(ada->username == "https://idp.example/u-1");
  CHECK(ada->password_hash == "!");
  auto again = external_user(*s, "https://idp.example", "u-1");
  REQUIRE(again);
  CHECK(again->id == ada->id);
  // "a/b" + "c" and "a" + "b/c" share a name but are two users.
  auto one = external_user(*s, "a/b", "c");
  auto two = external_user(*s, "a", "b/c");
  REQUIRE(one);
  REQUIRE(two);
  CHECK(one->id != two->id);
  CHECK(two->username == "a/b/c#2");
  auto other_issuer = external_user(*s, "https://other.example", "u-1");
  REQUIRE(other_issuer);
  CHECK(other_issuer->id != ada->id);
  s.reset();
  auto reopened = open(true);
  REQUIRE(reopened);
  auto found_again = external_user(*reopened, "https://idp.example", "u-1");
  REQUIRE(found_again);
  CHECK(found_again->id == ada->id);
}

void run_webhook_conformance(const store_factory& open) {
  auto s = open(false);
  REQUIRE(s);
  auto events = [&](std::int64_t debounce_ms = 0) {
    auto due = s->due_webhooks(debounce_ms, 3'600'000, 100);
    REQUIRE(due);
    return *due;
  };
  // Disabled: nothing is written.
  REQUIRE(s->enable_webhooks(false));
  document_row quiet;
  quiet.id = "hook-quiet";
  REQUIRE(s->create_document(quiet));
  CHECK(events().empty());
  REQUIRE(s->enable_webhooks(true));
  document_row doc;
  doc.id = "hooked";
  REQUIRE(s->create_document(doc));
  auto op = [](std::uint64_t rev) { return op_row{"hooked", rev, "x", "c", rev, rev, 0, 0}; };
  REQUIRE(s->commit({.ops = {op(1)}, .sessions = {session_event{"s1", "hooked", "n1", "", 5, true}}}));
  REQUIRE(s->commit({.ops = {op(2), op(3)}}));
  auto due = events();
  std::vector<std::string> kinds;
  for (auto& e : due)
    kinds.push_back(e.event);
  CHECK(kinds == std::vector<std::string>{"document.created", "document.changed", "session.joined"});
  // One row for the document's changes, at its newest revision.
  auto changed = due[1];
  CHECK(changed.rev == 3);
  CHECK(changed.delivery == "changed:hooked");
  CHECK(due[2].node_id == "n1");
  CHECK(due[2].session_id == "s1");
  // Debounced: not due while the last change is younger than the debounce.
  CHECK(events(3'600'000).size() == 2);
  // Failed: not due again before its retry time.
  REQUIRE(s->webhook_failed(due[0].id, 3'600'000));
  CHECK(events().size() == 2);
  // Delivered at rev 3 but a change came since: it stays for that one.
  REQUIRE(s->commit({.ops = {op(4)}}));
  REQUIRE(s->webhook_delivered(changed.id, 3));
  auto after = events();
  REQUIRE(after.size() == 2);
  CHECK(after[0].rev == 4);
  REQUIRE(s->webhook_delivered(after[0].id, 4));
  REQUIRE(s->webhook_delivered(after[1].id, 0));
  CHECK(events().empty());
  // A delete is an event, and takes the document's pending change along.
  REQUIRE(s->commit({.ops = {op(5)}}));
  REQUIRE(s->delete_document("hooked"));
  auto gone = events();
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].event == "document.deleted");
  auto counts = s->expire_webhooks(0);
  REQUIRE(counts);
  CHECK(counts->second >= 0);
  REQUIRE(s->enable_webhooks(false));
}

} // namespace stet::test
