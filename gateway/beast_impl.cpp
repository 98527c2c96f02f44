// Compiles Asio and Beast once for the whole program (their separate
// compilation mode), instead of in every file that includes them.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
