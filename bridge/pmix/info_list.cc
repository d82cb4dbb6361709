#include "bridge/pmix/info_list.h"

#include <pmix.h>

#include <cstring>
#include <utility>

namespace pmi_shim::pmix {

InfoList::~InfoList() { Clear(); }

InfoList::InfoList(InfoList&& other) noexcept : infos_(std::move(other.infos_)) {
  other.infos_.clear();
}

InfoList& InfoList::operator=(InfoList&& other) noexcept {
  if (this != &other) {
    Clear();
    infos_ = std::move(other.infos_);
    other.infos_.clear();
  }
  return *this;
}

void InfoList::Clear() {
  for (pmix_info_t& info : infos_) PMIX_INFO_DESTRUCT(&info);
  infos_.clear();
}

InfoList& InfoList::Add(const char* key, const void* value, pmix_data_type_t type) {
  infos_.emplace_back();
  PMIX_INFO_CONSTRUCT(&infos_.back());
  (void)PMIx_Info_load(&infos_.back(), key, value, type);
  return *this;
}

InfoList& InfoList::AddString(const char* key, const std::string& value) {
  return Add(key, value.c_str(), PMIX_STRING);
}
InfoList& InfoList::AddUint32(const char* key, uint32_t value) {
  return Add(key, &value, PMIX_UINT32);
}
InfoList& InfoList::AddUint16(const char* key, uint16_t value) {
  return Add(key, &value, PMIX_UINT16);
}
InfoList& InfoList::AddRank(const char* key, pmix_rank_t value) {
  return Add(key, &value, PMIX_PROC_RANK);
}
InfoList& InfoList::AddBool(const char* key, bool value) { return Add(key, &value, PMIX_BOOL); }

InfoList& InfoList::AddArray(const char* key, InfoList&& list) {
  pmix_data_array_t* array = nullptr;
  PMIX_DATA_ARRAY_CREATE(array, list.infos_.size(), PMIX_INFO);
  // The entries move by bytes: `array` now owns what they point to.
  std::memcpy(array->array, list.infos_.data(), list.infos_.size() * sizeof(pmix_info_t));
  list.infos_.clear();
  infos_.emplace_back();
  PMIX_INFO_CONSTRUCT(&infos_.back());
  PMIX_LOAD_KEY(infos_.back().key, key);
  infos_.back().value.type = PMIX_DATA_ARRAY;
  infos_.back().value.data.darray = array;
  return *this;
}

}  // namespace pmi_shim::pmix
