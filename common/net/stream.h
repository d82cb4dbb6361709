// Stream: one connected stream socket on the EventLoop, with an outbox.
//
// Every pmi-shim connection (a PMI client, the host's PMI server, each side
// of a relay) is the same thing underneath: read what arrives and hand it
// on, write without blocking and keep the rest until the socket drains, and
// tell the owner about end-of-stream and errors. Stream does that once.
//
//   Stream::Handlers handlers;
//   handlers.on_data = [&](absl::string_view bytes) { decoder.Feed(bytes); };
//   handlers.on_eof = [&] { ... };
//   ASSIGN_OR_RETURN(std::unique_ptr<Stream> stream,
//                    Stream::Start(loop, std::move(fd), std::move(handlers)));
//   stream->Write("cmd=init pmi_version=1 pmi_subversion=1\n");
//
// Writes try the socket at once, so a message written to an idle stream
// leaves in one send(2) (Slurm's PMI-1 server reads one request per read).
// What the socket does not take waits in the outbox, and the stream watches
// EPOLLOUT only while the outbox holds bytes. All I/O uses MSG_DONTWAIT, so
// the fd need not be O_NONBLOCK: an inherited PMI_FD keeps the flags it
// shares with the launcher. SIGPIPE is never raised (MSG_NOSIGNAL).
//
// Backpressure is the owner's: PauseReading() stops reading (the kernel's
// buffers then push back on the peer), on_drained says the outbox emptied.
// Half-close: on_eof when the peer stopped sending; ShutdownWrite() sends
// our end-of-stream once the outbox is flushed.
//
// A stream whose non-blocking connect is still under way (StartConnectTcp4)
// starts as kConnecting: writes wait in the outbox until it completes.
//
// Handlers run on the loop's thread and may do anything to the stream,
// destroy it included. After an error, or after Close(), the fd is closed
// and no handler runs again.
#ifndef PMI_SHIM_COMMON_NET_STREAM_H_
#define PMI_SHIM_COMMON_NET_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::net {

class Stream {
 public:
  // What failed, and errno: owners phrase the message for their peer.
  struct Error {
    enum class Operation { kConnect, kRead, kWrite };
    Operation operation;
    int error_number;
    // "read failed (Connection reset by peer)".
    std::string Describe() const;
  };

  struct Handlers {
    // Bytes as they arrive, in order. Not called while reading is paused.
    std::function<void(absl::string_view bytes)> on_data;
    // The peer will send nothing more (it closed or half-closed). Writing
    // may go on; the stream stays open until Close() or destruction.
    std::function<void()> on_eof;
    // A connect, read or write failed. The stream is already closed.
    std::function<void(const Error& error)> on_error;
    // The outbox emptied after its bytes had to wait (the socket pushed
    // back, or the connect was under way). Called from the loop, never from
    // inside Write().
    std::function<void()> on_drained;
    // A `connecting` stream is connected (queued bytes are being sent).
    std::function<void()> on_connected;
  };

  enum class State { kConnected, kConnecting };

  // Watches `fd`, a connected stream socket (kConnecting: one whose
  // non-blocking connect is under way), and owns it.
  // Errors: the loop cannot watch it (the fd is closed then).
  static absl::StatusOr<std::unique_ptr<Stream>> Start(EventLoop& loop, UniqueFd fd,
                                                       Handlers handlers,
                                                       State state = State::kConnected);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Sends `bytes` after everything written before. Ignored once closed or
  // shut down for writing. A failure calls on_error before returning.
  void Write(absl::string_view bytes);
  // Half-closes (shutdown(SHUT_WR)) once the outbox is flushed.
  void ShutdownWrite();

  void PauseReading();
  void ResumeReading();
  // Reads what has already arrived, as an EPOLLIN would (unless paused or
  // at end-of-stream): for an owner that must hear a peer out now.
  void ReadAvailable();

  // Unwatches and closes now, dropping the outbox; no handler runs again.
  void Close();

  bool open() const { return fd_.valid(); }
  bool connected() const { return connected_; }
  bool eof() const { return eof_; }  // the peer's end-of-stream arrived
  bool write_shut() const { return write_shut_; }
  size_t pending_bytes() const { return outbox_.size(); }
  int fd() const { return fd_.get(); }

 private:
  Stream(EventLoop& loop, UniqueFd fd, Handlers handlers, State state);

  void OnEvents(uint32_t events);
  void FinishConnect();
  // Sends from the outbox until it is empty or the socket is full.
  void Flush();
  void Fail(Error::Operation operation, int error_number);
  // Watches for what is wanted now: EPOLLIN while reading, EPOLLOUT while
  // connecting or holding bytes. A hung-up socket wanted for nothing is
  // unwatched, as epoll would otherwise report EPOLLHUP forever.
  void UpdateInterest();

  EventLoop& loop_;
  UniqueFd fd_;
  Handlers handlers_;
  std::string outbox_;
  bool connected_ = true;
  bool reading_ = true;
  bool eof_ = false;
  bool shutdown_wanted_ = false;
  bool write_shut_ = false;
  bool hung_up_ = false;
  bool watched_ = false;
  uint32_t interest_ = 0;
  // Cleared on destruction: a handler may destroy the stream under us.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pmi_shim::net

#endif  // PMI_SHIM_COMMON_NET_STREAM_H_
