// Compiles Beast and Boost.URL once for the whole program (their separate
// compilation modes), instead of in every file that includes them; Debian
// ships Boost.URL's library in a package of its own, which this spares.
// Asio's part is in actors/.
#include <boost/beast/src.hpp>
#include <boost/url/src.hpp>
