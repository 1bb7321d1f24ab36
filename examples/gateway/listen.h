// Opening a TCP listener, shared by the API server and the metrics listener.
#pragma once

#include <boost/asio.hpp>

#include <string>
#include <string_view>

#include "iam/status.h"

namespace gateway {

// Opens, binds (SO_REUSEADDR) and listens `acceptor` on bind:port. Returns the bound port
// (the chosen one for port 0); invalid_argument "<flag>: not an IP address", or
// internal_error "cannot <what> <bind>:<port>: <reason>" when the port cannot be had.
inline iam::Result<unsigned short> listen_on(boost::asio::ip::tcp::acceptor& acceptor, const std::string& bind,
                                             unsigned short port, std::string_view flag, std::string_view what) {
  namespace net = boost::asio;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(bind, ec);
  if (ec) return iam::Error{iam::ErrorCode::invalid_argument, std::string(flag) + ": not an IP address"};
  const net::ip::tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return iam::Error{iam::ErrorCode::internal_error,
                      "cannot " + std::string(what) + " " + bind + ":" + std::to_string(port) + ": " + ec.message()};
  return acceptor.local_endpoint().port();
}

}  // namespace gateway
