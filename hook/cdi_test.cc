#include "hook/cdi.h"

#include <gtest/gtest.h>

namespace pmi_shim::hook {
namespace {

TEST(MakeCdiSpec, Golden) {
  const nlohmann::json expected = nlohmann::json::parse(R"({
    "cdiVersion": "0.5.0",
    "kind": "pmi-shim.org/shim",
    "devices": [{
      "name": "tools",
      "containerEdits": {
        "mounts": [{"hostPath": "/opt/pmi-shim-1.0", "containerPath": "/opt/pmi-shim",
                    "type": "bind", "options": ["bind", "ro", "nosuid", "nodev"]}],
        "hooks": [
          {"hookName": "createRuntime", "path": "/opt/pmi-shim-1.0/bin/pmi-shim-hook",
           "args": ["pmi-shim-hook", "createRuntime"]},
          {"hookName": "poststop", "path": "/opt/pmi-shim-1.0/bin/pmi-shim-hook",
           "args": ["pmi-shim-hook", "poststop"]}
        ]
      }
    }]
  })");
  EXPECT_EQ(MakeCdiSpec("/opt/pmi-shim-1.0"), expected) << MakeCdiSpec("/opt/pmi-shim-1.0").dump(2);
}

}  // namespace
}  // namespace pmi_shim::hook
