// Packer/Unpacker against bytes captured from the real 1.2.5 client, and
// the decoder's refusals.
#include "protocol/pmix_v1/buffer.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protocol/pmix_v1/capture_fixture.h"
#include "protocol/pmix_v1/header.h"
#include "protocol/pmix_v1/messages.h"

namespace pmi_shim::protocol::pmix_v1 {
namespace {

using testing::Captured;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Payload(const std::string& message) { return message.substr(kHeaderBytes); }

TEST(CaptureTest, FixtureIsPresent) { EXPECT_GE(testing::CapturedMessages().size(), 8u); }

TEST(BufferTest, CommitMatchesTheRealClientBytes) {
  // capture_client puts cap-str (string, GLOBAL), cap-u32 (uint32, LOCAL)
  // and cap-int (int, REMOTE); GLOBAL lands in both scopes.
  Packer local;
  local.PackKeyValue({"cap-str", Value::String("hello-v1")});
  Value u32;
  u32.type = DataType::kUint32;
  u32.bits = 0x01020304;
  local.PackKeyValue({"cap-u32", u32});
  Packer remote;
  remote.PackKeyValue({"cap-str", Value::String("hello-v1")});
  remote.PackKeyValue({"cap-int", Value::Int(-5)});
  CommitRequest commit;
  commit.blobs = {{kScopeLocal, local.Take()}, {kScopeRemote, remote.Take()}};
  EXPECT_EQ(absl::BytesToHexString(EncodeCommit(commit)),
            absl::BytesToHexString(Payload(Captured("commit"))));
}

TEST(BufferTest, FenceGetFinalizeAndAbortMatchTheRealClientBytes) {
  FenceRequest fence;
  fence.procs = {{"capture-ns", kRankWildcard}};
  fence.collect = true;
  EXPECT_EQ(absl::BytesToHexString(EncodeFence(fence)),
            absl::BytesToHexString(Payload(Captured("fence", 0))));
  fence.collect = false;
  EXPECT_EQ(absl::BytesToHexString(EncodeFence(fence)),
            absl::BytesToHexString(Payload(Captured("fence", 1))));
  EXPECT_EQ(absl::BytesToHexString(EncodeGet({"capture-ns", 1, {}})),
            absl::BytesToHexString(Payload(Captured("get"))));
  EXPECT_EQ(EncodeSimpleCommand(Command::kFinalize), Payload(Captured("finalize")));
  EXPECT_EQ(EncodeSimpleCommand(Command::kRequestJobInfo), Payload(Captured("req")));
  EXPECT_EQ(absl::BytesToHexString(EncodeAbort({7, "captured abort", {}})),
            absl::BytesToHexString(Payload(Captured("abort"))));
}

TEST(BufferTest, DecodesTheCapturedCommit) {
  const std::string payload = Payload(Captured("commit"));
  absl::StatusOr<std::pair<Command, absl::string_view>> command = DecodeCommand(payload);
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->first, Command::kCommit);
  absl::StatusOr<CommitRequest> commit = DecodeCommit(command->second);
  ASSERT_TRUE(commit.ok()) << commit.status();
  ASSERT_EQ(commit->blobs.size(), 2u);
  EXPECT_EQ(commit->blobs[0].scope, kScopeLocal);
  absl::StatusOr<std::vector<KeyValue>> local = UnpackKeyValues(commit->blobs[0].kvals);
  ASSERT_TRUE(local.ok());
  ASSERT_EQ(local->size(), 2u);
  EXPECT_EQ((*local)[0].key, "cap-str");
  EXPECT_EQ((*local)[0].value, Value::String("hello-v1"));
  EXPECT_EQ((*local)[1].value.bits, 0x01020304u);
  absl::StatusOr<std::vector<KeyValue>> remote = UnpackKeyValues(commit->blobs[1].kvals);
  ASSERT_TRUE(remote.ok());
  EXPECT_EQ((*remote)[1].key, "cap-int");
  EXPECT_EQ((*remote)[1].value.AsInt64(), -5);
}

// The body after the command code of a captured message.
std::string Body(const std::string& name, int nth = 0) {
  const std::string payload = Payload(Captured(name, nth));
  return std::string(DecodeCommand(payload)->second);
}

TEST(BufferTest, DecodesTheCapturedFenceGetAndAbort) {
  absl::StatusOr<FenceRequest> fence = DecodeFence(Body("fence"));
  ASSERT_TRUE(fence.ok()) << fence.status();
  EXPECT_TRUE(fence->collect);
  EXPECT_THAT(fence->procs, ElementsAre(Proc{"capture-ns", kRankWildcard}));
  absl::StatusOr<FenceRequest> plain = DecodeFence(Body("fence", 1));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->collect);
  absl::StatusOr<GetRequest> get = DecodeGet(Body("get"));
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->nspace, "capture-ns");
  EXPECT_EQ(get->rank, 1);
  absl::StatusOr<AbortRequest> abort = DecodeAbort(Body("abort"));
  ASSERT_TRUE(abort.ok()) << abort.status();
  EXPECT_EQ(abort->status, 7);
  EXPECT_EQ(abort->message, "captured abort");
  EXPECT_TRUE(abort->procs.empty());
}

TEST(BufferTest, DecodesTheCapturedConnect) {
  const std::string connect = Captured("connect");
  absl::StatusOr<Header> header = DecodeHeader(connect, kMaxConnectBytes);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->pindex, -1);
  EXPECT_EQ(header->tag, kConnectTag);
  absl::StatusOr<ConnectRequest> request = DecodeConnectRequest(Payload(connect));
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->nspace, "capture-ns");
  EXPECT_EQ(request->rank, 0);
  EXPECT_EQ(request->version, "1.2.5rc3");
  EXPECT_EQ(request->security, "native");
  EXPECT_EQ(request->bfrops, "v12");
  EXPECT_EQ(request->gds, "ds12");
  // Our encoder writes the same fields back.
  EXPECT_EQ(EncodeConnectRequest(*request), connect);
}

TEST(BufferTest, ValuesRoundTrip) {
  Value array;
  array.type = DataType::kInfoArray;
  array.array = {{"a", Value::Uint16(7)}, {"b", Value::Size(1ull << 40)}};
  Value timeval;
  timeval.type = DataType::kTimeval;
  timeval.bits = 12;
  timeval.bits2 = 34;
  for (const Value& value :
       {Value::String("x"), Value::Int(-1), Value::Bool(true),
        Value::ByteObject(std::string(3, '\0')), Value::Size(9), array, timeval}) {
    Packer out;
    out.PackValue(value);
    Unpacker in(out.bytes());
    absl::StatusOr<Value> back = in.UnpackValue();
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, value) << value.DebugString();
    EXPECT_TRUE(in.AtEnd());
  }
}

TEST(BufferTest, RefusesTruncatedAndOversizedInput) {
  const std::string commit = Payload(Captured("commit"));
  for (size_t cut = 8; cut < commit.size(); cut += 7) {
    absl::StatusOr<CommitRequest> decoded = DecodeCommit(commit.substr(8, cut - 8));
    if (cut - 8 == 0) continue;
    EXPECT_FALSE(decoded.ok()) << "cut at " << cut;
  }
  // A string claiming 2 GiB.
  // (An Unpacker views its bytes: they must outlive it.)
  const std::string huge_bytes = absl::HexStringToBytes("000000017fffffff41");
  Unpacker huge(huge_bytes);
  absl::StatusOr<std::string> text = huge.UnpackString();
  EXPECT_FALSE(text.ok());
  EXPECT_THAT(text.status().message(), HasSubstr("truncated"));
  // 1e9 procs in a few bytes.
  const std::string procs_bytes = absl::HexStringToBytes("3b9aca00");
  Unpacker procs(procs_bytes);
  EXPECT_FALSE(procs.UnpackProcs(1000000000).ok());
  // Info arrays nested beyond the limit.
  Packer nested;
  Value v = Value::Int(1);
  for (int i = 0; i < 8; ++i) {
    Value outer;
    outer.type = DataType::kInfoArray;
    outer.array = {{"k", v}};
    v = outer;
  }
  std::string bytes;
  {
    // Hand-build the nesting: the packer stops writing below its limit.
    Packer p;
    p.PackValue(v);
    bytes = p.Take();
  }
  Unpacker deep(bytes);
  EXPECT_FALSE(deep.UnpackValue().ok());
}

}  // namespace
}  // namespace pmi_shim::protocol::pmix_v1
