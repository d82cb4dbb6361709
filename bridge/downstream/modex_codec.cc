#include "bridge/downstream/modex_codec.h"

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace pmi_shim::downstream::modex {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMinValueBytes = 96;

// Reverse alphabet: 0..63, or -1 for a character the encoding never emits.
constexpr std::array<int8_t, 256> MakeDecodeTable() {
  std::array<int8_t, 256> table{};
  for (auto& entry : table) entry = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kAlphabet[i])] = i;
  return table;
}
constexpr std::array<int8_t, 256> kDecode = MakeDecodeTable();

std::string HeaderPrefix(int segments, size_t bytes, uint64_t fnv) {
  return absl::StrFormat("segments=%d,bytes=%u,fnv=%016x", segments, bytes, fnv);
}

}  // namespace

std::string Base64UrlEncode(absl::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t v =
        (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text) {
  if (text.size() % 4 == 1) {
    return absl::DataLossError(absl::StrCat("base64url text of impossible length ", text.size()));
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t accumulator = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int v = kDecode[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      return absl::DataLossError(absl::StrFormat("byte 0x%02x at offset %u is not base64url",
                                                 static_cast<uint8_t>(text[i]), i));
    }
    accumulator = (accumulator << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((accumulator >> bits) & 0xff);
    }
  }
  // Leftover bits must be zero, or the text was not made by an encoder.
  if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0) {
    return absl::DataLossError("base64url text has non-zero trailing bits");
  }
  return out;
}

uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string SegmentKey(absl::string_view key, int index, int count) {
  return absl::StrCat(key, "-seg-", index, "/", count);
}

absl::StatusOr<std::vector<KeyValue>> Encode(absl::string_view key, absl::string_view blob,
                                             const CodecLimits& limits) {
  if (limits.max_value_bytes < kMinValueBytes) {
    return absl::InvalidArgumentError(absl::StrCat("a value limit of ", limits.max_value_bytes,
                                                   " bytes is too small for modex segments (need ",
                                                   kMinValueBytes, ")"));
  }
  if (key.empty() || key.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("modex key \"", key, "\" must have 1 to ",
                                                   limits.max_key_bytes, " characters"));
  }
  if (blob.size() > kMaxBlobBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("modex blob of ", blob.size(), " bytes exceeds ", kMaxBlobBytes));
  }
  const uint64_t fnv = Fnv1a64(blob);
  std::string encoded = Base64UrlEncode(blob);
  std::vector<KeyValue> pairs;
  std::string inline_header = absl::StrCat(HeaderPrefix(0, blob.size(), fnv), ",data=", encoded);
  if (encoded.empty()) {
    pairs.push_back({std::string(key), HeaderPrefix(0, 0, fnv)});
    return pairs;
  }
  if (inline_header.size() <= limits.max_value_bytes) {
    pairs.push_back({std::string(key), std::move(inline_header)});
    return pairs;
  }
  const size_t piece = limits.max_value_bytes;
  const int count = static_cast<int>((encoded.size() + piece - 1) / piece);
  const std::string longest_key = SegmentKey(key, count, count);
  if (longest_key.size() > limits.max_key_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("segment key \"", longest_key, "\" exceeds ",
                                                   limits.max_key_bytes, " characters"));
  }
  pairs.reserve(count + 1);
  pairs.push_back({std::string(key), HeaderPrefix(count, blob.size(), fnv)});
  for (int i = 0; i < count; ++i) {
    pairs.push_back({SegmentKey(key, i + 1, count), encoded.substr(i * piece, piece)});
  }
  return pairs;
}

absl::StatusOr<Header> ParseHeader(absl::string_view value) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("not a modex header (", why, "): \"",
                                            value.substr(0, 80),
                                            value.size() > 80 ? "...\"" : "\""));
  };
  std::vector<absl::string_view> fields = absl::StrSplit(value, absl::MaxSplits(',', 3));
  if (fields.size() < 3) return bad("too few fields");
  Header header;
  uint64_t bytes = 0;
  if (!absl::ConsumePrefix(&fields[0], "segments=") ||
      !absl::SimpleAtoi(fields[0], &header.segments) || header.segments < 0) {
    return bad("segments");
  }
  if (!absl::ConsumePrefix(&fields[1], "bytes=") || !absl::SimpleAtoi(fields[1], &bytes) ||
      bytes > kMaxBlobBytes) {
    return bad("bytes");
  }
  header.bytes = static_cast<size_t>(bytes);
  if (!absl::ConsumePrefix(&fields[2], "fnv=") || fields[2].size() != 16 ||
      fields[2].find_first_not_of("0123456789abcdef") != absl::string_view::npos ||
      !absl::SimpleHexAtoi(fields[2], &header.fnv)) {
    return bad("fnv");
  }
  // Each segment holds at least one character, i.e. 6 bits of the blob.
  if (header.segments > 0 && static_cast<uint64_t>(header.segments) > (header.bytes * 4 + 2) / 3) {
    return bad("more segments than data");
  }
  if (fields.size() == 4) {
    if (header.segments != 0 || !absl::ConsumePrefix(&fields[3], "data=")) return bad("data");
    header.inline_data = std::string(fields[3]);
  }
  return header;
}

absl::StatusOr<std::string> Reassemble(const Header& header,
                                       const std::vector<std::string>& segments) {
  if (static_cast<int>(segments.size()) != header.segments) {
    return absl::DataLossError(absl::StrCat("modex value has ", segments.size(),
                                            " segments, its header announced ", header.segments));
  }
  std::string encoded = header.inline_data;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].empty()) {
      return absl::DataLossError(
          absl::StrCat("modex segment ", i + 1, "/", segments.size(), " is empty"));
    }
    encoded += segments[i];
  }
  absl::StatusOr<std::string> blob = Base64UrlDecode(encoded);
  if (!blob.ok()) {
    return absl::DataLossError(absl::StrCat("modex value is corrupt: ", blob.status().message()));
  }
  if (blob->size() != header.bytes || Fnv1a64(*blob) != header.fnv) {
    return absl::DataLossError(absl::StrCat("modex value is corrupt: decoded ", blob->size(),
                                            " bytes that do not match the header (", header.bytes,
                                            " bytes, fnv ", absl::Hex(header.fnv, absl::kZeroPad16),
                                            "); a segment is stale, reordered or damaged"));
  }
  return blob;
}

}  // namespace pmi_shim::downstream::modex

// ---------------------------------------------------------------------------
// ModexExchange.

namespace pmi_shim::downstream {

struct ModexExchange::State {
  State(session::JobHost& host, Options options) : host(host), options(std::move(options)) {
    if (static_cast<int>(this->options.node_of_rank.size()) == this->options.size) {
      std::vector<bool> seen;
      for (int rank = 0; rank < this->options.size; ++rank) {
        const int node = this->options.node_of_rank[rank];
        if (node < 0) continue;
        if (static_cast<size_t>(node) >= seen.size()) seen.resize(node + 1, false);
        if (seen[node]) follower.insert(rank);
        seen[node] = true;
      }
    }
  }

  std::string Key(char kind, int epoch, int rank) const {
    return absl::StrCat(options.key_prefix, "-", std::string(1, kind), epoch, "-", rank);
  }
  bool IsLocal(int rank) const {
    return std::binary_search(options.local_ranks.begin(), options.local_ranks.end(), rank);
  }
  int leader() const { return options.local_ranks.front(); }
  // A rank whose server's blob is read under its leader's key instead.
  bool Follows(int rank) const { return follower.count(rank) != 0; }

  session::JobHost& host;
  Options options;
  int started_epoch = 0;
  int completed_epoch = 0;
  int direct_epoch = 0;  // latest epoch that published direct-modex blobs
  bool busy = false;
  std::deque<std::pair<FenceInput, BlobDone>> queue;
  absl::flat_hash_set<int> follower;
};

namespace {

// Reads one blob written by modex::Encode: header, then its segments. With a
// host that answers synchronously every step completes inside the previous
// one, so the steps run from a trampoline (Pump) rather than by recursion.
class BlobReader : public std::enable_shared_from_this<BlobReader> {
 public:
  // `ref` is set when the key holds "ref=<rank>" instead of a header.
  using Done = std::function<void(absl::StatusOr<std::string> blob, std::optional<int> ref)>;

  static void Read(session::JobHost& host, int rank, std::string key, Done done) {
    auto reader =
        std::shared_ptr<BlobReader>(new BlobReader(host, rank, std::move(key), std::move(done)));
    reader->Pump();
  }

 private:
  BlobReader(session::JobHost& host, int rank, std::string key, Done done)
      : host_(host), rank_(rank), key_(std::move(key)), done_(std::move(done)) {}

  void Pump() {
    if (pumping_) {
      again_ = true;
      return;
    }
    pumping_ = true;
    do {
      again_ = false;
      Step();
    } while (again_ && !finished_);
    pumping_ = false;
  }

  void Step() {
    const bool header_phase = !header_.has_value();
    const std::string key =
        header_phase
            ? key_
            : modex::SegmentKey(key_, static_cast<int>(segments_.size()) + 1, header_->segments);
    host_.Get(rank_, key,
              [self = shared_from_this(), key, header_phase](absl::StatusOr<std::string> value) {
                if (self->finished_) return;
                if (!value.ok()) {
                  self->Finish(
                      absl::Status(value.status().code(),
                                   absl::StrCat("reading ", key, ": ", value.status().message())));
                  return;
                }
                header_phase ? self->OnHeader(*value) : self->OnSegment(*std::move(value));
                if (!self->finished_) self->Pump();
              });
  }

  void OnHeader(const std::string& value) {
    absl::string_view text = value;
    if (absl::ConsumePrefix(&text, "ref=")) {
      int ref = -1;
      if (!absl::SimpleAtoi(text, &ref) || ref < 0) {
        Finish(absl::DataLossError(absl::StrCat(key_, " holds a bad reference \"", value, "\"")));
        return;
      }
      finished_ = true;
      done_(std::string(), ref);
      return;
    }
    absl::StatusOr<modex::Header> header = modex::ParseHeader(value);
    if (!header.ok()) {
      Finish(absl::DataLossError(absl::StrCat(key_, ": ", header.status().message())));
      return;
    }
    header_ = *std::move(header);
    if (header_->segments == 0) Assemble();
  }

  void OnSegment(std::string value) {
    segments_.push_back(std::move(value));
    if (static_cast<int>(segments_.size()) == header_->segments) Assemble();
  }

  void Assemble() {
    absl::StatusOr<std::string> blob = modex::Reassemble(*header_, segments_);
    if (!blob.ok()) {
      Finish(absl::DataLossError(absl::StrCat(key_, ": ", blob.status().message())));
      return;
    }
    Finish(*std::move(blob));
  }

  void Finish(absl::StatusOr<std::string> result) {
    finished_ = true;
    done_(std::move(result), std::nullopt);
  }

  session::JobHost& host_;
  const int rank_;
  const std::string key_;
  Done done_;
  std::optional<modex::Header> header_;
  std::vector<std::string> segments_;
  bool pumping_ = false;
  bool again_ = false;
  bool finished_ = false;
};

}  // namespace

// One fence: put, barrier, gather; a trampolined state machine like
// BlobReader's.
struct ModexExchange::FenceRun : std::enable_shared_from_this<ModexExchange::FenceRun> {
  enum class Phase { kPut, kBarrier, kGather, kDone };

  std::weak_ptr<State> weak_state;
  int epoch = 0;
  FenceInput input;
  BlobDone done;
  std::vector<modex::KeyValue> puts;
  size_t next_put = 0;
  Phase phase = Phase::kPut;
  bool waiting = false;
  bool barriers_entered = false;
  int barriers_left = 0;
  absl::Status barrier_status;
  int next_rank = 0;
  std::string collected;
  bool pumping = false;
  bool again = false;

  void Pump() {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    do {
      again = false;
      std::shared_ptr<State> state = weak_state.lock();
      if (state == nullptr) break;
      Step(*state);
    } while (again && phase != Phase::kDone);
    pumping = false;
  }

  // Called from an operation's completion; resumes the machine.
  void Resume() {
    waiting = false;
    Pump();
  }

  void Step(State& state) {
    if (waiting || phase == Phase::kDone) return;
    switch (phase) {
      case Phase::kPut:
        StepPut(state);
        return;
      case Phase::kBarrier:
        StepBarrier(state);
        return;
      case Phase::kGather:
        StepGather(state);
        return;
      case Phase::kDone:
        return;
    }
  }

  // Stores this server's puts one at a time, then moves to the barrier.
  void StepPut(State& state) {
    if (next_put == puts.size()) {
      phase = Phase::kBarrier;
      again = true;
      return;
    }
    waiting = true;
    state.host.Put(state.leader(), puts[next_put].key, puts[next_put].value,
                   [self = shared_from_this()](absl::Status status) {
                     if (!status.ok()) {
                       self->Fail(absl::Status(
                           status.code(), absl::StrCat("storing ", self->puts[self->next_put].key,
                                                       ": ", status.message())));
                       return;
                     }
                     ++self->next_put;
                     self->Resume();
                   });
  }

  // Enters the host barrier for every local rank; once it completes, fails, finishes or moves
  // on to the gather.
  void StepBarrier(State& state) {
    if (!barriers_entered) {
      // Every local rank enters the host barrier; it completes only when
      // the whole job has, so enter them all before waiting for any.
      barriers_entered = true;
      barriers_left = static_cast<int>(state.options.local_ranks.size());
      waiting = true;
      for (int rank : state.options.local_ranks) {
        state.host.Barrier(rank, [self = shared_from_this()](absl::Status status) {
          if (!status.ok() && self->barrier_status.ok()) self->barrier_status = status;
          if (--self->barriers_left == 0) self->Resume();
        });
      }
      return;
    }
    if (!barrier_status.ok()) {
      Fail(absl::Status(
          barrier_status.code(),
          absl::StrCat("fence ", epoch, ": host barrier failed: ", barrier_status.message())));
      return;
    }
    if (!input.collect) {
      Finish(std::string());
      return;
    }
    collected = std::move(input.blob);
    phase = Phase::kGather;
    again = true;
  }

  // Reads, in rank order, the blob of every rank this server does not already hold, then
  // finishes with what was collected.
  void StepGather(State& state) {
    while (next_rank < state.options.size &&
           (state.IsLocal(next_rank) || state.Follows(next_rank))) {
      ++next_rank;
    }
    if (next_rank == state.options.size) {
      Finish(std::move(collected));
      return;
    }
    waiting = true;
    BlobReader::Read(
        state.host, state.leader(), state.Key('f', epoch, next_rank),
        [self = shared_from_this()](absl::StatusOr<std::string> blob, std::optional<int> ref) {
          if (!blob.ok()) {
            self->Fail(
                absl::Status(blob.status().code(),
                             absl::StrCat("fence ", self->epoch, ": no data from rank ",
                                          self->next_rank, " (", blob.status().message(),
                                          "); does every rank run under a pmi-shim PMIx server?")));
            return;
          }
          if (!ref.has_value()) self->collected += *blob;
          ++self->next_rank;
          self->Resume();
        });
  }

  void Fail(absl::Status status) { Finish(std::move(status)); }

  void Finish(absl::StatusOr<std::string> result) {
    if (phase == Phase::kDone) return;
    phase = Phase::kDone;
    std::shared_ptr<State> state = weak_state.lock();
    if (state == nullptr) return;
    state->completed_epoch = epoch;
    if (!input.direct.empty() && result.ok()) state->direct_epoch = epoch;
    state->busy = false;
    BlobDone callback = std::move(done);
    callback(std::move(result));
    if (weak_state.lock() != nullptr) ModexExchange::StartNext(state);
  }
};

ModexExchange::ModexExchange(session::JobHost& host, Options options)
    : state_(std::make_shared<State>(host, std::move(options))) {}

ModexExchange::~ModexExchange() = default;

int ModexExchange::completed_fences() const { return state_->completed_epoch; }

void ModexExchange::Fence(FenceInput input, BlobDone done) {
  state_->queue.emplace_back(std::move(input), std::move(done));
  if (!state_->busy) StartNext(state_);
}

void ModexExchange::StartNext(const std::shared_ptr<State>& state) {
  if (state->busy || state->queue.empty()) return;
  auto [input, done] = std::move(state->queue.front());
  state->queue.pop_front();
  state->busy = true;
  auto run = std::make_shared<FenceRun>();
  run->weak_state = state;
  run->epoch = ++state->started_epoch;
  run->input = std::move(input);
  run->done = std::move(done);
  absl::Status encoded = absl::OkStatus();
  auto add = [&](const std::string& key, absl::string_view blob) {
    absl::StatusOr<std::vector<modex::KeyValue>> pairs =
        modex::Encode(key, blob, state->options.limits);
    if (!pairs.ok()) {
      if (encoded.ok()) encoded = pairs.status();
      return;
    }
    for (modex::KeyValue& pair : *pairs) run->puts.push_back(std::move(pair));
  };
  if (run->input.collect) {
    add(state->Key('f', run->epoch, state->leader()), run->input.blob);
    // Readers that know the layout never look under a follower's key.
    const bool layout_known =
        state->options.node_of_rank.size() == static_cast<size_t>(state->options.size);
    for (int rank : state->options.local_ranks) {
      if (rank != state->leader() && !layout_known) {
        run->puts.push_back(
            {state->Key('f', run->epoch, rank), absl::StrCat("ref=", state->leader())});
      }
    }
  }
  for (const auto& [rank, blob] : run->input.direct) add(state->Key('d', run->epoch, rank), blob);
  if (!encoded.ok()) {
    run->Finish(
        absl::Status(encoded.code(), absl::StrCat("fence ", run->epoch, ": ", encoded.message())));
    return;
  }
  run->Pump();
}

void ModexExchange::DirectModex(int rank, BlobDone done) {
  if (rank < 0 || rank >= state_->options.size) {
    done(absl::OutOfRangeError(absl::StrCat("rank ", rank, " is outside the job")));
    return;
  }
  if (state_->direct_epoch == 0) {
    done(absl::NotFoundError(absl::StrCat("no direct-modex data for rank ", rank,
                                          " yet (no non-collecting fence completed)")));
    return;
  }
  std::weak_ptr<State> weak = state_;
  BlobReader::Read(
      state_->host, state_->leader(), state_->Key('d', state_->direct_epoch, rank),
      [weak, done = std::move(done)](absl::StatusOr<std::string> blob, std::optional<int>) {
        if (weak.lock() == nullptr) return;
        done(std::move(blob));
      });
}

}  // namespace pmi_shim::downstream
