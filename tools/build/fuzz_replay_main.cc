// main() for fuzz targets built without libFuzzer: runs
// LLVMFuzzerTestOneInput once on every file named on the command line (every
// regular file inside a named directory), so crashes found by a fuzzer, and
// the seed corpora, replay in ordinary builds and in `bazel test`.
// Arguments starting with '-' (libFuzzer options) are ignored, except our own
// `-min_inputs=N`, which fails the run when fewer inputs were found (so a
// corpus test cannot pass by replaying an empty or misnamed directory).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Adds `path` (or the files inside it) to `inputs`; false if it is missing.
bool Collect(const fs::path& path, std::vector<fs::path>& inputs) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    inputs.push_back(path);
    return true;
  }
  if (!fs::is_directory(path, ec)) return false;
  std::vector<fs::path> found;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(path, ec)) {
    if (entry.is_regular_file(ec)) found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end());  // stable order for reproducible runs
  inputs.insert(inputs.end(), found.begin(), found.end());
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  size_t min_inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-min_inputs=", 0) == 0) min_inputs = std::strtoul(arg.c_str() + 12, nullptr, 10);
    if (arg[0] == '-') continue;
    if (!Collect(argv[i], inputs)) {
      std::fprintf(stderr, "replay: cannot read %s\n", argv[i]);
      return 1;
    }
  }
  for (const fs::path& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
      return 1;
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::fprintf(stderr, "replay: %zu inputs ran without a finding\n", inputs.size());
  if (inputs.size() < min_inputs) {
    std::fprintf(stderr, "replay: expected at least %zu inputs\n", min_inputs);
    return 1;
  }
  return 0;
}
