// Compiles Beast once for the whole program (its separate compilation mode),
// instead of in every file that includes it, with Asio's TLS part (the
// webhook client's); the rest of Asio's is in actors/.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
