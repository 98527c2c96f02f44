// Compiles Beast once for the whole program (its separate compilation mode),
// instead of in every file that includes it. Asio's part is in actors/.
#include <boost/beast/src.hpp>
