// Compiles Asio once for the whole program (its separate compilation mode):
// the Redis connections here and the gateway's Beast sessions share it.
#include <boost/asio/impl/src.hpp>
