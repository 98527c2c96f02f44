#include "auth/password.hpp"
#include "auth/token.hpp"
#include "auth/token_bucket.hpp"

#include <doctest/doctest.h>
#include <thread>

using namespace stet;
using namespace stet::auth;

TEST_CASE("argon2id hashes verify the right password only") {
  auto h = hash_password("correct horse \xF0\x9F\x90\xB4");
  REQUIRE(h);
  CHECK(h->rfind("$argon2id$", 0) == 0);
  CHECK(verify_password("correct horse \xF0\x9F\x90\xB4", *h));
  CHECK_FALSE(verify_password("correct horse", *h));
  auto h2 = hash_password("correct horse \xF0\x9F\x90\xB4");
  CHECK(*h2 != *h); // salted
}

TEST_CASE("tokens verify until they expire and resist tampering") {
  token_signer signer{"0123456789abcdef0123456789abcdef"};
  auto t = signer.issue({42, "o'brien \xF0\x9F\x98\x80", 1000});
  auto ok = signer.verify(t, 999);
  REQUIRE(ok);
  CHECK(ok->user_id == 42);
  CHECK(ok->username == "o'brien \xF0\x9F\x98\x80");
  auto expired = signer.verify(t, 1000);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == errc::unauthorized);
  CHECK(expired.error().message.find("expired") != std::string::npos);

  token_signer other{"another secret, another server!!"};
  CHECK_FALSE(other.verify(t, 1));
  // Change the claims but keep the signature: rejected.
  std::string forged_claims = base64url(R"({"uid":1,"usr":"admin","exp":99999999999})");
  CHECK_FALSE(signer.verify(forged_claims + t.substr(t.find('.')), 1));
  CHECK_FALSE(signer.verify("", 1));
  CHECK_FALSE(signer.verify("no-dot-here", 1));
  CHECK_FALSE(signer.verify("!!.!!", 1));
}

TEST_CASE("base64url round-trips any bytes") {
  for (std::string s : {std::string{}, std::string{"f"}, std::string{"fo"}, std::string{"foo"},
                        std::string("\0\xff\x10", 3)}) {
    std::string back;
    REQUIRE(base64url_decode(base64url(s), back));
    CHECK(back == s);
  }
  std::string junk;
  CHECK_FALSE(base64url_decode("a+b/", junk));
}

TEST_CASE("token bucket allows a burst, then the rate") {
  token_bucket b{10, 3};
  auto t0 = token_bucket::clock::now();
  CHECK(b.try_take(t0));
  CHECK(b.try_take(t0));
  CHECK(b.try_take(t0));
  CHECK_FALSE(b.try_take(t0));
  CHECK(b.try_take(t0 + std::chrono::milliseconds(100))); // one token per 100 ms
  CHECK_FALSE(b.try_take(t0 + std::chrono::milliseconds(110)));
  keyed_limiter k{1, 1};
  CHECK(k.try_take("a"));
  CHECK_FALSE(k.try_take("a"));
  CHECK(k.try_take("b"));
}

TEST_CASE("a flood of fresh keys neither grows a keyed limiter nor wipes the keys that owe tokens") {
  keyed_limiter k{1.0 / 3600, 1, 3}; // one token an hour: nothing refills during the test
  CHECK(k.try_take("attacker"));
  CHECK_FALSE(k.try_take("attacker"));
  CHECK(k.try_take("b"));
  CHECK(k.try_take("c"));
  // Full: every tracked key owes a token, so a new one is refused ...
  CHECK_FALSE(k.try_take("d"));
  CHECK(k.size() == 3);
  // ... and the keys already spent stay spent.
  CHECK_FALSE(k.try_take("attacker"));
}

TEST_CASE("a keyed limiter forgets buckets that are full again to make room") {
  keyed_limiter k{1000, 1, 2}; // refills within a millisecond
  CHECK(k.try_take("a"));
  CHECK(k.try_take("b"));
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(k.try_take("c")); // a and b are full again: forgotten
  CHECK(k.size() == 1);
}
