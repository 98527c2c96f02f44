// The TCP stream of one client connection, bound to its strand by type.
// Beast's tcp_stream type-erases its executor (any_io_executor); copying,
// "preferring" and destroying that wrapper around every operation cost ~3%
// of the server's CPU per message (perf, reconnect storm).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>

namespace stet {

using connection_executor = boost::asio::strand<boost::asio::io_context::executor_type>;
using connection_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, connection_executor>;
using connection_stream = boost::beast::basic_stream<boost::asio::ip::tcp, connection_executor>;

} // namespace stet
