// The node control protocol: frames survive any byte and any split, bad
// frames are refused, typed messages round-trip.
#include "bridge/node/node_protocol.h"

#include <string>

#include "gtest/gtest.h"

namespace pmi_shim::node {
namespace {

TEST(FrameTest, RoundTripsAnyBytesInAnySplit) {
  const Message message{"call", {"7", "put", std::string("k\0ey", 4), "v:a,l\n1", ""}};
  const std::string frame = EncodeFrame(message) + EncodeFrame(Message{"bye", {}});
  for (size_t cut = 0; cut <= frame.size(); ++cut) {
    FrameDecoder decoder;
    decoder.Feed(frame.substr(0, cut));
    std::vector<Message> got;
    for (;;) {
      absl::StatusOr<std::optional<Message>> next = decoder.Next();
      ASSERT_TRUE(next.ok()) << next.status();
      if (!next->has_value()) break;
      got.push_back(**next);
    }
    decoder.Feed(frame.substr(cut));
    for (;;) {
      absl::StatusOr<std::optional<Message>> next = decoder.Next();
      ASSERT_TRUE(next.ok()) << next.status();
      if (!next->has_value()) break;
      got.push_back(**next);
    }
    ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(got[0], message);
    EXPECT_EQ(got[1].verb, "bye");
  }
}

TEST(FrameTest, GarbageIsDataLoss) {
  for (const char* bad : {"x:", "3:abc", "5:1:a", ":", "99999999999:", "0:"}) {
    FrameDecoder decoder;
    decoder.Feed(bad);
    absl::StatusOr<std::optional<Message>> next = decoder.Next();
    EXPECT_FALSE(next.ok() && next->has_value()) << bad;
    if (!next.ok()) {
      EXPECT_EQ(next.status().code(), absl::StatusCode::kDataLoss) << bad;
    }
  }
  FrameDecoder huge;
  huge.Feed(std::to_string(kMaxFrameBytes + 1) + ":");
  EXPECT_EQ(huge.Next().status().code(), absl::StatusCode::kDataLoss);
}

TEST(TypedMessageTest, HelloCarriesTheJobAndTheLayout) {
  Hello hello;
  hello.rank = 2;
  hello.job.kvsname = "kvs_1_0";
  hello.job.size = 4;
  hello.job.universe_size = 4;
  hello.job.appnum = 1;
  hello.job.process_mapping = "(vector,(0,2,2))";
  hello.job.limits.vallen_max = 512;
  hello.node_of_rank = {0, 0, 1, 1};
  absl::StatusOr<Hello> back = DecodeHello(EncodeHello(hello));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rank, 2);
  EXPECT_EQ(back->job.kvsname, "kvs_1_0");
  EXPECT_EQ(back->job.appnum, 1);
  EXPECT_EQ(back->job.process_mapping, "(vector,(0,2,2))");
  EXPECT_EQ(back->job.limits.vallen_max, 512);
  EXPECT_EQ(back->node_of_rank, hello.node_of_rank);

  hello.job.process_mapping.reset();
  EXPECT_FALSE(DecodeHello(EncodeHello(hello))->job.process_mapping.has_value());
  hello.rank = 4;  // outside the job
  EXPECT_FALSE(DecodeHello(EncodeHello(hello)).ok());
  hello.rank = 0;
  hello.node_of_rank = {0, 0, 1};  // one short
  EXPECT_FALSE(DecodeHello(EncodeHello(hello)).ok());
}

TEST(TypedMessageTest, CallsRepliesAndNoticesRoundTrip) {
  absl::StatusOr<Call> put = DecodeCall(EncodeCall(Call{9, CallOp::kPut, "k", "v"}));
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->id, 9u);
  EXPECT_EQ(put->op, CallOp::kPut);
  EXPECT_EQ(put->value, "v");
  EXPECT_EQ(DecodeCall(EncodeCall(Call{1, CallOp::kGet, "k", ""}))->op, CallOp::kGet);
  EXPECT_EQ(DecodeCall(EncodeCall(Call{1, CallOp::kBarrier, "", ""}))->op, CallOp::kBarrier);
  EXPECT_FALSE(DecodeCall(Message{"call", {"1", "spawn"}}).ok());

  absl::StatusOr<Reply> missing =
      DecodeReply(EncodeReply(Reply{3, absl::NotFoundError("no key k"), ""}));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing->status.message(), "no key k");
  EXPECT_EQ(DecodeReply(EncodeReply(Reply{4, absl::OkStatus(), "value"}))->value, "value");
  EXPECT_FALSE(DecodeReply(Message{"reply", {"1", "99", "", ""}}).ok());

  absl::StatusOr<Notice> abort = DecodeNotice(EncodeNotice(Notice{NoticeKind::kAbort, 7, "bye"}));
  ASSERT_TRUE(abort.ok());
  EXPECT_EQ(abort->kind, NoticeKind::kAbort);
  EXPECT_EQ(abort->code, 7);
  EXPECT_EQ(abort->text, "bye");
  EXPECT_EQ(DecodeNotice(EncodeNotice(Notice{NoticeKind::kLost, 0, "why"}))->text, "why");
  EXPECT_FALSE(DecodeNotice(Message{"tell", {"reboot"}}).ok());
}

}  // namespace
}  // namespace pmi_shim::node
