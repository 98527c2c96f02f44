#include "proto/codec.hpp"
#include "proto/comment_codec.hpp"

#include <doctest/doctest.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

using namespace stet;

TEST_CASE("decode_client reads the JSON form of the protocol examples") {
  auto m = wire::decode_client(
    R"({"edit":{"docId":"d1","baseRev":3,"clientSeq":1,"clientTs":1700000000000,"ops":[{"retain":5},{"insert":"abc"},{"delete":2}]}})",
    wire::frame_format::json);
  REQUIRE(m);
  REQUIRE(m->has_edit());
  CHECK(m->edit().base_rev() == 3);
  auto op = wire::to_operation(m->edit().ops());
  REQUIRE(op);
  CHECK(to_debug_string(*op) == "[r5, i'abc', d2]");
}

TEST_CASE("decode_client names what is wrong") {
  auto code = [](std::string_view frame, wire::frame_format f = wire::frame_format::json) {
    auto m = wire::decode_client(frame, f);
    REQUIRE_FALSE(m);
    CHECK_FALSE(m.error().message.empty());
    return m.error().code;
  };
  CHECK(code("{oops") == errc::bad_message);
  CHECK(code(R"({"nope":{}})") == errc::unknown_message);
  CHECK(code("{}") == errc::unknown_message);
  CHECK(code(R"({"join":{"docId":"a"},"ping":{}})") == errc::bad_message);
  CHECK(code(R"({"join":{"docId":"\ud800"}})") == errc::invalid_utf8);
  CHECK(code("\xff\xff\xff", wire::frame_format::binary) == errc::bad_message);
  // ClientMessage.join { doc_id: "\xff" } in protobuf binary.
  CHECK(code(std::string_view{"\x12\x03\x0a\x01\xff", 5}, wire::frame_format::binary) == errc::invalid_utf8);
}

TEST_CASE("to_operation refuses U+0000 in inserted text, from JSON and binary alike") {
  auto json = wire::decode_client(R"({"edit":{"docId":"d","clientSeq":"1","ops":[{"insert":"a\u0000b"}]}})",
                                  wire::frame_format::json);
  REQUIRE(json);
  auto op = wire::to_operation(json->edit().ops());
  REQUIRE_FALSE(op);
  CHECK(op.error().code == errc::nul_character);
  wire::Edit e;
  e.add_ops()->set_insert(std::string("x\0", 2));
  CHECK(wire::to_operation(e.ops()).error().code == errc::nul_character);
}

TEST_CASE("decode_bus flattens one batch and refuses a batch inside a batch") {
  wire::BusEnvelope leaf;
  leaf.set_doc_id("d");
  leaf.mutable_leave()->set_session_id("s");
  wire::BusEnvelope batch;
  batch.mutable_batch()->add_envelopes(leaf.SerializeAsString());
  batch.mutable_batch()->add_envelopes(leaf.SerializeAsString());
  auto items = wire::decode_bus(batch.SerializeAsString());
  REQUIRE(items);
  REQUIRE(items->size() == 2);
  CHECK((*items)[1].envelope.leave().session_id() == "s");
  CHECK((*items)[1].bytes == leaf.SerializeAsString());
  wire::BusEnvelope nested;
  nested.mutable_batch()->add_envelopes(batch.SerializeAsString());
  auto refused = wire::decode_bus(nested.SerializeAsString());
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(wire::decode_bus("\xff\xff").error().code == errc::bad_message);
}

TEST_CASE("to_operation rejects empty and kindless components") {
  wire::Edit e;
  e.add_ops()->set_retain(0);
  CHECK(wire::to_operation(e.ops()).error().code == errc::invalid_argument);
  wire::Edit k;
  k.add_ops();
  CHECK(wire::to_operation(k.ops()).error().code == errc::invalid_argument);
}

TEST_CASE("server messages encode in both formats; 64-bit fields are JSON strings") {
  wire::ServerMessage m;
  m.mutable_ack()->set_doc_id("d");
  m.mutable_ack()->set_rev(42);
  auto json = wire::encode(m, wire::frame_format::json);
  CHECK(json == R"({"ack":{"docId":"d","rev":"42"}})");
  wire::encoded_message shared{m};
  auto bin = shared.get(wire::frame_format::binary);
  CHECK(shared.get(wire::frame_format::binary) == bin); // encoded once
  auto back = wire::decode_server(*bin, wire::frame_format::binary);
  REQUIRE(back);
  CHECK(back->ack().rev() == 42);
}

TEST_CASE("stored operations keep the text they removed") {
  operation op;
  op.retain(1).erase(2, "\xC3\xA9x").insert("y");
  auto back = wire::decode_stored(wire::encode_stored(op));
  REQUIRE(back);
  CHECK(*back == op);
  CHECK_FALSE(wire::decode_stored("\xff\xff"));
}

TEST_CASE("a large snapshot's JSON carries its text exactly (the spliced fast path)") {
  std::string text;
  for (int i = 0; i < 2000; ++i)
    text += "line \"" + std::to_string(i) + "\" \\ <tag> & \t\x01 caf\xC3\xA9 \xF0\x9F\x98\x80\n";
  wire::ServerMessage m;
  auto* s = m.mutable_snapshot();
  s->set_doc_id("big");
  s->set_rev(7);
  s->set_policy("lww");
  s->add_participants()->set_client_id("a");
  s->set_text(text);
  auto json = wire::encode(m, wire::frame_format::json);
  CHECK(json.starts_with("{\"snapshot\":{\"docId\":\"big\""));
  wire::ServerMessage back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  CHECK(back.snapshot().text() == text);
  CHECK(back.snapshot().rev() == 7);
  CHECK(back.snapshot().participants(0).client_id() == "a");
  CHECK(back.snapshot().policy() == "lww");
}

TEST_CASE("the JSON reader agrees with protobuf's JSON mapping, or defers to it") {
  const char* frames[] = {
    R"({"edit":{"docId":"d","baseRev":"3","clientSeq":"4","ops":[{"retain":2},{"insert":"h\u00e9\"<"},{"delete":"1"}]}})",
    R"({"edit":{"docId":"d","baseRev":3,"clientSeq":4,"clientTs":"99","ops":[{"insert":"x"}]}})",
    R"({"edit":{"doc_id":"d","base_rev":"1","client_seq":"2","ops":[{"insert":"snake"}]}})", // protobuf's other spelling
    R"({"edit":{"docId":"d","clientSeq":"1","ops":[{"retain":4294967296}]}})",              // over uint32
    R"({"edit":{"docId":"d","clientSeq":"1","ops":[{"insert":"x","retain":1}]}})",         // two kinds
    R"({"edit":{"docId":"d","clientSeq":"-1","ops":[]}})",
    R"({"edit":{"docId":"d","clientSeq":"1","bogus":1,"ops":[]}})",
    R"({"edit":{"docId":7,"clientSeq":"1"}})",
    R"({"edit":{"docId":"d","clientSeq":1.5}})",
    R"({"hello":{"clientId":"c1","token":"t.x","batch":true}})",
    R"({"hello":{}})",
    R"({"hello":{"batch":"true"}})",
    R"({"join":{"docId":"d","knownRev":"12","echo":false,"policy":"merge"}})",
    R"({"join":{"docId":"d","knownRev":null}})",
    R"({"presence":{"docId":"d","cursor":3,"anchor":4294967295}})",
    R"({"presence":{"docId":"d","cursor":-1}})",
    R"({"leave":{"docId":"d"}})",
    R"({"ping":{"nonce":"18446744073709551615"}})",
    R"({"ping":{"nonce":"18446744073709551616"}})",
    R"({"ping":{},"leave":{"docId":"d"}})", // two bodies
    R"({})",
    R"([])",
    R"({"hello":[]})",
  };
  std::vector<std::string> all(std::begin(frames), std::end(frames));
  all.push_back(std::string{R"({"ping":{}})"} + '\0' + "trailing"); // found by the decode fuzzer
  for (auto& f : all) {
    CAPTURE(f);
    auto ours = wire::decode_client(f, wire::frame_format::json);
    wire::ClientMessage theirs;
    google::protobuf::util::JsonParseOptions strict;
    auto st = google::protobuf::util::JsonStringToMessage(f, &theirs, strict);
    if (st.ok() && theirs.body_case() == wire::ClientMessage::BODY_NOT_SET)
      CHECK_FALSE(ours); // parses, but names no message: an error for us
    else
      CHECK(static_cast<bool>(ours) == st.ok());
    if (ours && st.ok())
      CHECK(ours->SerializeAsString() == theirs.SerializeAsString());
  }
  // The one known difference: a repeated key is not an error, the last counts.
  auto twice = wire::decode_client(R"({"join":{"docId":"a","docId":"b"}})", wire::frame_format::json);
  REQUIRE(twice);
  CHECK(twice->join().doc_id() == "b");
}

TEST_CASE("every server message prints as protobuf's JSON mapping does") {
  const std::string odd = "caf\xC3\xA9 \"q\" \\ <b> & \t\x01\x1f \xF0\x9F\x98\x80\n\u2028";
  std::vector<wire::ServerMessage> all(11);
  auto* w = all[0].mutable_welcome();
  w->set_client_id(odd), w->set_session_id("s"), w->set_node_id("n1"), w->set_max_frame_bytes(1u << 31);
  w->set_username("u"), w->set_batch(false);
  auto* s = all[1].mutable_snapshot();
  s->set_doc_id("d"), s->set_rev(0), s->set_text(odd), s->set_policy("merge"), s->set_resumed(true);
  s->add_participants()->set_client_id("a");
  s->mutable_participants(0)->set_user_id(-7), s->mutable_participants(0)->set_user(odd);
  s->add_participants(); // an empty participant prints as {}
  all[2].mutable_ack()->set_client_seq(~0ull);
  auto* a = all[3].mutable_applied();
  a->set_doc_id("d"), a->set_rev(1), a->set_author(odd), a->set_ts(1ull << 40), a->set_client_seq(3);
  a->set_user_id(-(1ll << 40));
  a->add_ops()->set_retain(4294967295u);
  a->add_ops()->set_insert(odd);
  a->add_ops()->set_delete_(2), a->mutable_ops(2)->set_deleted("xy");
  auto* c = all[4].mutable_conflict();
  c->set_doc_id("d"), c->set_client_seq(1), c->set_rev(2), c->set_dropped(odd), c->set_restored("");
  auto* p = all[5].mutable_presence();
  p->set_doc_id("d"), p->set_cursor(0), p->set_anchor(7), p->set_client_id("c"), p->set_left(true);
  p->set_user_id(3), p->set_user(odd);
  all[6] = wire::make_error(stet::make_error(errc::bad_rev, odd), "d", 9);
  all[7].mutable_pong()->set_nonce(5), all[7].mutable_pong()->set_server_ts(6);
  // all[8]: no body at all
  auto* commented = all[9].mutable_applied(); // a comment revision: no ops
  commented->set_doc_id("d"), commented->set_rev(4), commented->set_ts(5), commented->set_user_id(2);
  auto* action = commented->mutable_comment();
  action->set_kind("open"), action->set_thread(4), action->set_start(0), action->set_end(3), action->set_text(odd);
  action->set_user(odd);
  auto* threads = all[10].mutable_snapshot();
  threads->set_doc_id("d"), threads->set_rev(4), threads->set_text("abc");
  auto* t = threads->add_comments();
  t->set_id(4), t->set_start(0), t->set_end(0), t->set_detached(true), t->set_resolved(false);
  auto* entry = t->add_entries();
  entry->set_rev(4), entry->set_user_id(-1), entry->set_user(odd), entry->set_text(odd), entry->set_ts(1ull << 50);
  for (auto& m : all) {
    CAPTURE(m.ShortDebugString());
    auto ours = wire::encode(m, wire::frame_format::json);
    std::string theirs;
    REQUIRE(google::protobuf::util::MessageToJsonString(m, &theirs).ok());
    CHECK(nlohmann::json::parse(ours) == nlohmann::json::parse(theirs));
    wire::ServerMessage back;
    REQUIRE(google::protobuf::util::JsonStringToMessage(ours, &back).ok());
    CHECK(back.SerializeAsString() == m.SerializeAsString());
  }
}

TEST_CASE("hand-printed acks and applied edits parse back to the same message") {
  wire::ServerMessage m;
  auto* a = m.mutable_applied();
  a->set_doc_id("doc.1");
  a->set_rev(12);
  a->add_ops()->set_retain(3);
  a->add_ops()->set_insert("caf\xC3\xA9 \"q\" \\ <b>\n");
  auto* d = a->add_ops();
  d->set_delete_(2);
  d->set_deleted("xy");
  a->set_author("c1");
  a->set_ts(1ull << 40);
  a->set_client_seq(5);
  a->set_user_id(42);
  auto json = wire::encode(m, wire::frame_format::json);
  wire::ServerMessage back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  CHECK(back.SerializeAsString() == m.SerializeAsString());
  wire::ServerMessage ack;
  ack.mutable_ack()->set_doc_id("d");
  ack.mutable_ack()->set_client_seq(2);
  ack.mutable_ack()->set_rev(9);
  ack.mutable_ack()->set_ts(77);
  std::string printed;
  REQUIRE(google::protobuf::util::MessageToJsonString(ack, &printed).ok());
  CHECK(wire::encode(ack, wire::frame_format::json) == printed); // byte for byte what protobuf prints
}

TEST_CASE("an error's detail stays in the log: the wire carries code and message only") {
  auto m = wire::make_error(make_error(errc::storage_unavailable, "the database could not commit; retry shortly",
                                       "postgres: server closed the connection at 10.0.0.7"),
                            "d1", 4);
  REQUIRE(m.has_error());
  CHECK(m.error().message() == "the database could not commit; retry shortly");
  CHECK(m.DebugString().find("10.0.0.7") == std::string::npos);
}

TEST_CASE("stored comment threads: round trip, fields of later versions skipped, damage refused") {
  std::map<std::uint64_t, comment_thread> threads;
  threads[3] = {3, 1, 4, false, true, {{3, 7, "ann", "caf\xC3\xA9 \"q\"\nnext", 1ull << 40}, {5, 0, "", "r", 9}}};
  threads[9] = {9, 2, 2, true, false, {{9, 0, "", "gone", 1}}};
  auto stored = wire::encode_threads(threads);
  auto back = wire::decode_threads(stored);
  REQUIRE(back);
  CHECK(*back == threads);
  CHECK(wire::encode_threads({}).empty());
  CHECK(wire::decode_threads("")->empty());
  auto later = wire::decode_threads(R"({"threads":[{"id":"4","start":0,"end":2,"colour":"red",)"
                                    R"("entries":[{"rev":"4","text":"x","mood":1}]}],"version":2})");
  REQUIRE(later);
  CHECK(later->at(4).entries.at(0).text == "x");
  for (std::string damaged : {R"(not json)", R"({"threads":[{"id":"0","start":0,"end":1,"entries":[{"text":"x"}]}]})",
                              R"({"threads":[{"id":"4","start":2,"end":1,"entries":[{"text":"x"}]}]})",
                              R"({"threads":[{"id":"4","start":1,"end":2,"detached":true,"entries":[{"text":"x"}]}]})",
                              R"({"threads":[{"id":"4","start":0,"end":1}]})",
                              R"({"threads":[{"id":"4","start":0,"end":1,"entries":[{"text":"x"}]},)"
                              R"({"id":"4","start":0,"end":1,"entries":[{"text":"y"}]}]})"}) {
    CAPTURE(damaged);
    auto r = wire::decode_threads(damaged);
    REQUIRE(!r);
    CHECK(r.error().code == errc::internal);
  }
}
