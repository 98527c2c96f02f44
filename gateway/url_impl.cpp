// Compiles Boost.URL once for the whole program (its separate compilation
// mode): Debian ships its library in a package of its own, which this
// spares. Linked wherever http_util.cpp is (the gateway, fuzz_http).
#include <boost/url/src.hpp>
