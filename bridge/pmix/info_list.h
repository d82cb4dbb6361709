// InfoList: an owned array of pmix_info_t, the attribute list every libpmix
// call takes (job facts to register, directives such as PMIX_COLLECT_DATA).
//
//   pmix::InfoList info;
//   info.AddBool(PMIX_COLLECT_DATA, true);
//   PMIx_Fence_nb(nullptr, 0, info.data(), info.size(), cbfunc, cbdata);
//
// Values are copied in (PMIx_Info_load) and released with the list. A list
// handed to a non-blocking call must outlive the call's callback: libpmix
// keeps pointers into it (PendingCalls::Call holds one for that reason).
#ifndef PMI_SHIM_BRIDGE_PMIX_INFO_LIST_H_
#define PMI_SHIM_BRIDGE_PMIX_INFO_LIST_H_

#include <pmix_common.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pmi_shim::pmix {

class InfoList {
 public:
  InfoList() = default;
  ~InfoList();
  InfoList(InfoList&& other) noexcept;
  InfoList& operator=(InfoList&& other) noexcept;
  InfoList(const InfoList&) = delete;
  InfoList& operator=(const InfoList&) = delete;

  // Copies `*value` of PMIx type `type` under `key`.
  InfoList& Add(const char* key, const void* value, pmix_data_type_t type);
  InfoList& AddString(const char* key, const std::string& value);
  InfoList& AddUint32(const char* key, uint32_t value);
  InfoList& AddUint16(const char* key, uint16_t value);
  InfoList& AddRank(const char* key, pmix_rank_t value);
  InfoList& AddBool(const char* key, bool value);
  // Moves `list`'s entries into one PMIX_DATA_ARRAY value under `key` (a
  // PMIX_PROC_DATA entry of a namespace registration); `list` ends empty.
  InfoList& AddArray(const char* key, InfoList&& list);

  // nullptr when empty, as libpmix accepts.
  pmix_info_t* data() { return infos_.empty() ? nullptr : infos_.data(); }
  const pmix_info_t* data() const { return infos_.empty() ? nullptr : infos_.data(); }
  size_t size() const { return infos_.size(); }

 private:
  void Clear();

  std::vector<pmix_info_t> infos_;
};

}  // namespace pmi_shim::pmix

#endif  // PMI_SHIM_BRIDGE_PMIX_INFO_LIST_H_
