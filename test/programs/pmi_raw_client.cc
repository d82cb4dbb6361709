// pmi_raw_client: a scripted, deliberately dumb PMI wire client for tests.
//
// The bad-input tests need a rank that sends exactly the bytes a test wants
// (malformed lines, oversize values, unknown commands, an early close) and
// shows what came back, which no real PMI library will do. It connects the way
// a real client does: the inherited socket in PMI_FD, else TCP to PMI_PORT
// ("host:port"), and runs the operations given on the command line in order:
//
//   send:TEXT       write TEXT; C escapes \n \r \t \\ \xHH; {rank} {size}
//                   {kvsname} {jobid} are replaced (the last two by what the
//                   server sent earlier in a kvsname=/jobid= token)
//   send2:PAYLOAD   write one PMI-2 record: 6-byte length, then PAYLOAD
//                   (same escapes and placeholders)
//   repeat:C:COUNT  write COUNT copies of the byte C (builds oversize lines)
//   recv            read one '\n'-terminated line, print "recv: LINE"
//   recv2           read one PMI-2 record (6-byte length + payload),
//                   print "recv: PAYLOAD"
//                   both print "recv: TIMEOUT" after 5 s, "recv: EOF" on EOF
//   initack         PMI_PORT only: send "cmd=initack pmiid=ID" and print the
//                   reply lines up to "cmd=set debug=..."; no-op with PMI_FD
//   sleep:MS        sleep MS milliseconds
//   close           close the PMI connection
//   exit:CODE       exit now with CODE (the end of the script exits 0)
//   tag:ANYTHING    ignored; lets a test recognise its processes
//
// "--rank=R" (or "--rank=*") before operations limits them to the rank whose
// PMI_RANK/PMI_ID is R, so one command line can script every rank of a job:
//   pmi_raw_client --rank=0 send:cmd=init... recv --rank=1 sleep:30000
//
// The connection is opened lazily by the first operation that needs it, so a
// script of only "sleep" never says anything to the server. Output is written
// with one write() per line so that lines survive the process being killed.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kRecvTimeoutMs = 5000;

void PrintLine(const std::string& line) {
  std::string out = line + "\n";
  // A single write keeps lines of concurrent ranks from interleaving.
  (void)!write(STDOUT_FILENO, out.data(), out.size());
}

[[noreturn]] void Die(const std::string& why) {
  std::string out = "pmi_raw_client: " + why + "\n";
  (void)!write(STDERR_FILENO, out.data(), out.size());
  _exit(2);
}

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

long long NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

// Value of the first "name=" token in `text`, up to a space, ';' or newline.
std::string TokenValue(const std::string& text, const std::string& name) {
  for (size_t pos = text.find(name + "="); pos != std::string::npos;
       pos = text.find(name + "=", pos + 1)) {
    // Only whole keys: "kvsname=" must not match inside "xkvsname=".
    if (pos > 0 && text[pos - 1] != ' ' && text[pos - 1] != ';') continue;
    size_t start = pos + name.size() + 1;
    size_t end = text.find_first_of(" ;\n", start);
    return text.substr(start, end == std::string::npos ? end : end - start);
  }
  return "";
}

class Client {
 public:
  Client() {
    rank_ = Env("PMI_RANK");
    if (rank_.empty()) rank_ = Env("PMI_ID");
    size_ = Env("PMI_SIZE");
  }

  const std::string& rank() const { return rank_; }

  void Send(const std::string& bytes) {
    if (!Connect()) return;
    size_t done = 0;
    while (done < bytes.size()) {
      // MSG_NOSIGNAL: a server that hung up must show as an error line, not
      // kill the client with SIGPIPE before the test sees what happened.
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == ENOTSOCK) {
        n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        PrintLine(std::string("send: ERROR ") + strerror(errno));
        return;
      }
      done += static_cast<size_t>(n);
    }
  }

  void Recv() { PrintReceived(ReadLine()); }

  void Recv2() {
    std::string header;
    std::string status = ReadExactly(6, &header);
    if (!status.empty()) return PrintReceived(status);
    int len = atoi(header.c_str());  // peers pad with spaces either side
    std::string payload;
    status = ReadExactly(len < 0 ? 0 : static_cast<size_t>(len), &payload);
    PrintReceived(status.empty() ? payload : status);
  }

  void InitAck() {
    if (!Env("PMI_FD").empty()) return;  // handshake exists only on PMI_PORT
    std::string id = Env("PMI_ID");
    if (id.empty()) id = rank_;
    Send("cmd=initack pmiid=" + id + "\n");
    // Reply: "cmd=initack ...", then set size=, set rank=, set debug=.
    for (int i = 0; i < 5; ++i) {
      std::string line = ReadLine();
      PrintReceived(line);
      if (line.rfind("cmd=set debug=", 0) == 0 || line == "TIMEOUT" || line == "EOF") {
        return;
      }
    }
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = true;
  }

  // Replaces {rank} {size} {kvsname} {jobid} in `text`.
  std::string Expand(std::string text) const {
    const std::pair<const char*, const std::string*> vars[] = {
        {"{rank}", &rank_}, {"{size}", &size_}, {"{kvsname}", &kvsname_}, {"{jobid}", &jobid_}};
    for (const auto& [name, value] : vars) {
      for (size_t pos = text.find(name); pos != std::string::npos;
           pos = text.find(name, pos + value->size())) {
        text.replace(pos, strlen(name), *value);
      }
    }
    return text;
  }

 private:
  bool Connect() {
    if (fd_ >= 0) return true;
    if (closed_) {
      PrintLine("send: ERROR connection closed by script");
      return false;
    }
    std::string pmi_fd = Env("PMI_FD");
    if (!pmi_fd.empty()) {
      fd_ = atoi(pmi_fd.c_str());
      if (fcntl(fd_, F_GETFD) < 0) Die("PMI_FD=" + pmi_fd + " is not open");
      return true;
    }
    std::string port = Env("PMI_PORT");
    if (port.empty()) Die("neither PMI_FD nor PMI_PORT is set");
    size_t colon = port.rfind(':');
    if (colon == std::string::npos) Die("PMI_PORT=" + port + " is not host:port");
    std::string host = port.substr(0, colon);
    std::string service = port.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    if (gai != 0) Die("cannot resolve PMI_PORT=" + port + ": " + gai_strerror(gai));
    for (addrinfo* ai = res; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fd_ = fd;
      } else {
        ::close(fd);
      }
    }
    freeaddrinfo(res);
    if (fd_ < 0) Die("cannot connect to PMI_PORT=" + port + ": " + strerror(errno));
    return true;
  }

  // Fills buffered_ until `done(buffered_)` holds; returns "" on success,
  // else "TIMEOUT" or "EOF".
  template <typename Done>
  std::string Fill(Done done) {
    if (!Connect()) return "EOF";
    long long deadline = NowMs() + kRecvTimeoutMs;
    while (!done()) {
      long long left = deadline - NowMs();
      if (left <= 0) return "TIMEOUT";
      pollfd pfd{fd_, POLLIN, 0};
      int ready = poll(&pfd, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) return "TIMEOUT";
      char chunk[65536];
      ssize_t n = ::read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "EOF";  // a reset connection is an end, too
      buffered_.append(chunk, static_cast<size_t>(n));
    }
    return "";
  }

  // One line without its '\n', or "TIMEOUT"/"EOF".
  std::string ReadLine() {
    std::string status = Fill([this] { return buffered_.find('\n') != std::string::npos; });
    if (!status.empty()) return status;
    size_t nl = buffered_.find('\n');
    std::string line = buffered_.substr(0, nl);
    buffered_.erase(0, nl + 1);
    return line;
  }

  std::string ReadExactly(size_t n, std::string* out) {
    std::string status = Fill([this, n] { return buffered_.size() >= n; });
    if (!status.empty()) return status;
    *out = buffered_.substr(0, n);
    buffered_.erase(0, n);
    return "";
  }

  void PrintReceived(const std::string& text) {
    std::string kvsname = TokenValue(text, "kvsname");
    if (!kvsname.empty()) kvsname_ = kvsname;
    std::string jobid = TokenValue(text, "jobid");
    if (!jobid.empty()) jobid_ = jobid;
    PrintLine("recv: " + text);
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string buffered_;
  std::string rank_;
  std::string size_;
  std::string kvsname_;
  std::string jobid_;
};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Unescape(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\' || i + 1 == in.size()) {
      out += in[i];
      continue;
    }
    char c = in[++i];
    switch (c) {
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case '\\':
        out += '\\';
        break;
      case 'x': {
        int hi = i + 1 < in.size() ? HexDigit(in[i + 1]) : -1;
        int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
        if (hi < 0 || lo < 0) Die("bad \\x escape in: " + in);
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default:
        Die(std::string("unknown escape \\") + c + " in: " + in);
    }
  }
  return out;
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Runs one operation; returns false for an unknown one.
bool RunOp(Client& client, const std::string& op) {
  if (StartsWith(op, "send:")) {
    client.Send(client.Expand(Unescape(op.substr(5))));
  } else if (StartsWith(op, "send2:")) {
    std::string payload = client.Expand(Unescape(op.substr(6)));
    char header[16];
    snprintf(header, sizeof(header), "%6zu", payload.size());
    client.Send(header + payload);
  } else if (StartsWith(op, "repeat:")) {
    // repeat:C:COUNT - C is exactly one byte, so "repeat:::9" repeats ':'.
    if (op.size() < 10 || op[8] != ':') Die("bad repeat (want repeat:C:COUNT): " + op);
    long count = strtol(op.c_str() + 9, nullptr, 10);
    if (count < 0 || count > (1L << 30)) Die("bad repeat count: " + op);
    client.Send(std::string(static_cast<size_t>(count), op[7]));
  } else if (op == "recv") {
    client.Recv();
  } else if (op == "recv2") {
    client.Recv2();
  } else if (op == "initack") {
    client.InitAck();
  } else if (StartsWith(op, "sleep:")) {
    long ms = strtol(op.c_str() + 6, nullptr, 10);
    timespec ts{ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  } else if (op == "close") {
    client.Close();
  } else if (StartsWith(op, "exit:")) {
    _exit(atoi(op.c_str() + 5));
  } else if (StartsWith(op, "tag:")) {
    // Intentionally nothing.
  } else {
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Client client;
  bool active = true;  // operations before any --rank= apply to every rank
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (StartsWith(arg, "--rank=")) {
      std::string want = arg.substr(7);
      active = want == "*" || want == client.rank();
      continue;
    }
    if (!active) continue;
    if (!RunOp(client, arg)) Die("unknown operation \"" + arg + "\"");
  }
  return 0;
}
