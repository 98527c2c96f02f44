// What the kernel alone charges a server for one delivery: one send() of a
// small message on one loopback TCP connection, to a reader on another
// core. No WebSocket, no actors, no storage: the floor under any server
// that keeps a TCP connection per client, as stet, Hocuspocus and
// y-websocket do. The scenario runner compares stet's CPU per delivery
// with it.
//
//   stet_loopback_floor --conns 100 --bytes 250 --rounds-per-second 100 --seconds 5
//
// Forks a reader (pinned to --reader-core) that drains every connection
// with epoll; the parent (pinned to --sender-core) sends `bytes` to every
// connection once per round, paced at --rounds-per-second (0: as fast as it
// can), and prints its own CPU-seconds per million sends as JSON.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

struct options {
  int conns = 100;
  int bytes = 250;
  double rounds_per_second = 100;
  double seconds = 5;
  int sender_core = 0;
  int reader_core = 1;
};

void check(bool ok, const char* what) {
  if (!ok)
    throw std::runtime_error(std::string{what} + ": " + std::strerror(errno));
}

void pin(int core) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core, &set);
  check(sched_setaffinity(0, sizeof set, &set) == 0, "sched_setaffinity");
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
         + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// The child: accepts `conns` connections and reads until every one closes.
[[noreturn]] void reader(int listener, const options& o) {
  pin(o.reader_core);
  int ep = epoll_create1(0);
  check(ep >= 0, "epoll_create1");
  for (int i = 0; i < o.conns; ++i) {
    int fd = accept(listener, nullptr, nullptr);
    check(fd >= 0, "accept");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    check(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl");
  }
  std::vector<char> buf(1 << 16);
  std::vector<epoll_event> events(256);
  for (int open = o.conns; open > 0;) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; ++i) {
      auto got = read(events[i].data.fd, buf.data(), buf.size());
      if (got <= 0) {
        close(events[i].data.fd);
        --open;
      }
    }
  }
  std::_Exit(0);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--conns") o.conns = std::stoi(v);
    else if (f == "--bytes") o.bytes = std::stoi(v);
    else if (f == "--rounds-per-second") o.rounds_per_second = std::stod(v);
    else if (f == "--seconds") o.seconds = std::stod(v);
    else if (f == "--sender-core") o.sender_core = std::stoi(v);
    else if (f == "--reader-core") o.reader_core = std::stoi(v);
    else {
      std::fprintf(stderr, "stet_loopback_floor: unknown flag %s\n", f.c_str());
      return 2;
    }
  }
  try {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    check(listener >= 0, "socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    check(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "bind");
    check(listen(listener, 4096) == 0, "listen");
    socklen_t len = sizeof addr;
    check(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
    pid_t child = fork();
    check(child >= 0, "fork");
    if (child == 0)
      reader(listener, o);
    pin(o.sender_core);
    std::vector<int> fds;
    for (int i = 0; i < o.conns; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      check(fd >= 0, "socket");
      check(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "connect");
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fds.push_back(fd);
    }
    std::string message(static_cast<std::size_t>(o.bytes), 'x');
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    auto end = start + std::chrono::duration<double>(o.seconds);
    auto cpu0 = cpu_seconds();
    std::uint64_t sends = 0, rounds = 0;
    while (clock::now() < end) {
      for (int fd : fds) {
        check(send(fd, message.data(), message.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(message.size()), "send");
        ++sends;
      }
      ++rounds;
      if (o.rounds_per_second > 0)
        std::this_thread::sleep_until(start + std::chrono::duration<double>(static_cast<double>(rounds) / o.rounds_per_second));
    }
    auto cpu = cpu_seconds() - cpu0;
    double wall = std::chrono::duration<double>(clock::now() - start).count();
    for (int fd : fds)
      close(fd);
    waitpid(child, nullptr, 0);
    std::printf("{\"conns\": %d, \"bytes\": %d, \"rounds_per_second\": %g, \"sends\": %llu, \"seconds\": %.3f, "
                "\"sends_per_second\": %.1f, \"sender_cpu_seconds\": %.3f, "
                "\"cpu_s_per_million_sends\": %.3f}\n",
                o.conns, o.bytes, o.rounds_per_second, static_cast<unsigned long long>(sends), wall,
                static_cast<double>(sends) / wall, cpu, cpu / static_cast<double>(sends) * 1e6);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stet_loopback_floor: %s\n", e.what());
    return 1;
  }
}
