// ControlConnection: one end of a node control socket on the event loop:
// writes frames (node_protocol.h) without blocking, reads and decodes
// them, and says once when the other end is gone.
//
// Loop thread only. Callbacks may destroy the connection (they are the last
// thing a handler does with it).
#ifndef PMI_SHIM_BRIDGE_NODE_CONTROL_CONNECTION_H_
#define PMI_SHIM_BRIDGE_NODE_CONTROL_CONNECTION_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bridge/node/node_protocol.h"
#include "common/event_loop.h"
#include "common/unique_fd.h"

namespace pmi_shim::node {

class ControlConnection {
 public:
  struct Events {
    std::function<void(Message)> message;
    // The peer closed, the stream broke or held garbage: `why`, one line.
    // Called once; nothing is read or written afterwards.
    std::function<void(std::string why)> closed;
  };

  static absl::StatusOr<std::unique_ptr<ControlConnection>> Start(EventLoop& loop, UniqueFd fd,
                                                                  Events events);
  ~ControlConnection();
  ControlConnection(const ControlConnection&) = delete;
  ControlConnection& operator=(const ControlConnection&) = delete;

  // Queues a message (dropped once closed).
  void Send(const Message& message);
  bool open() const { return fd_.valid(); }
  // Whether everything queued has been written.
  bool flushed() const { return outbox_.size() == written_; }

 private:
  ControlConnection(EventLoop& loop, UniqueFd fd, Events events);
  void OnReady(uint32_t events);
  void Flush();
  void Close(std::string why);

  EventLoop& loop_;
  UniqueFd fd_;
  Events events_;
  FrameDecoder decoder_;
  std::string outbox_;
  size_t written_ = 0;
  bool watching_out_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pmi_shim::node

#endif  // PMI_SHIM_BRIDGE_NODE_CONTROL_CONNECTION_H_
