#include "image/testing/fixture_image.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace pmi_shim::image::testing {
namespace {

void MakeDirs(const std::string& path) {
  for (size_t at = 1; at != std::string::npos; at = path.find('/', at + 1)) {
    mkdir(path.substr(0, at).c_str(), 0755);
  }
  mkdir(path.c_str(), 0755);
}

std::string CQuote(const std::string& text) {
  return absl::StrCat(
      "\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\t", "\\t"}}), "\"");
}

std::string Dir(const std::string& path) { return path.substr(0, path.rfind('/')); }

}  // namespace

std::string MakeTempDir(const std::string& name) {
  const char* base = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(base ? base : "/tmp", "/", name, ".XXXXXX");
  char* made = mkdtemp(pattern.data());
  return made ? std::string(made) : "";
}

absl::Status WriteLibrary(const std::string& root, const FixtureLibrary& lib) {
  static int counter = 0;
  const std::string src = absl::StrCat(root, "/.src", ++counter, ".c");
  {
    std::ofstream out(src);
    int i = 0;
    for (const std::string& s : lib.strings) {
      out << "__attribute__((used)) static const char s" << i++ << "[] = " << CQuote(s) << ";\n";
    }
    for (const auto& [name, value] : lib.string_symbols) {
      out << "const char " << name << "[] = " << CQuote(value) << ";\n";
    }
    for (const std::string& name : lib.int_symbols) out << "int " << name << " = 1;\n";
    out << "int pmi_shim_fixture_marker" << counter << "(void) { return 0; }\n";
  }
  const std::string target = root + lib.path;
  MakeDirs(Dir(target));
  std::string command = absl::StrCat("cc -shared -fPIC -o '", target, "' '", src, "'");
  if (!lib.soname.empty()) absl::StrAppend(&command, " -Wl,-soname,", lib.soname);
  if (!lib.needed.empty()) {
    // DT_NEEDED entries without the libraries: link against stub copies.
    const std::string stubs = absl::StrCat(root, "/.stubs", counter);
    MakeDirs(stubs);
    for (const std::string& needed : lib.needed) {
      const std::string stub_src = absl::StrCat(stubs, "/s.c");
      std::ofstream(stub_src) << "int pmi_shim_stub(void) { return 0; }\n";
      std::string stub = absl::StrCat("cc -shared -fPIC -o '", stubs, "/", needed, "' '", stub_src,
                                      "' -Wl,-soname,", needed);
      if (system(stub.c_str()) != 0) return absl::InternalError(stub);
      absl::StrAppend(&command, " -Wl,--no-as-needed '", stubs, "/", needed, "'");
    }
  }
  absl::StrAppend(&command, " 2>&1");
  if (int rc = system(command.c_str()); rc != 0) {
    return absl::InternalError(absl::StrCat("compiling a fixture library failed: ", command));
  }
  unlink(src.c_str());
  if (!lib.needed.empty()) system(absl::StrCat("rm -rf '", root, "/.stubs", counter, "'").c_str());
  for (const std::string& link : lib.links) {
    MakeDirs(Dir(root + link));
    if (symlink(lib.path.c_str(), (root + link).c_str()) != 0) {
      return absl::InternalError(absl::StrCat("symlink ", link));
    }
  }
  return absl::OkStatus();
}

}  // namespace pmi_shim::image::testing
