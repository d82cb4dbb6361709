/* Sends one of each request a PMIx 1.2.5 client makes, for capture_v125.py:
 * init, put (string GLOBAL, uint32 LOCAL, int REMOTE), commit, fence with
 * collect, fence without, get of rank 1's key (direct modex), abort with a
 * message (only with argv[1] == "abort"), finalize. Replies are whatever
 * the capturing server answers; errors are ignored. */
#include <pmix.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  pmix_proc_t me;
  if (PMIx_Init(&me) != PMIX_SUCCESS) return 1;
  pmix_value_t v;
  v.type = PMIX_STRING;
  v.data.string = "hello-v1";
  PMIx_Put(PMIX_GLOBAL, "cap-str", &v);
  v.type = PMIX_UINT32;
  v.data.uint32 = 0x01020304;
  PMIx_Put(PMIX_LOCAL, "cap-u32", &v);
  v.type = PMIX_INT;
  v.data.integer = -5;
  PMIx_Put(PMIX_REMOTE, "cap-int", &v);
  PMIx_Commit();
  bool collect = true;
  pmix_info_t info;
  PMIX_INFO_CONSTRUCT(&info);
  PMIX_INFO_LOAD(&info, PMIX_COLLECT_DATA, &collect, PMIX_BOOL);
  PMIx_Fence(NULL, 0, &info, 1);
  PMIx_Fence(NULL, 0, NULL, 0);
  pmix_proc_t peer;
  memset(&peer, 0, sizeof(peer));
  memcpy(peer.nspace, me.nspace, sizeof(peer.nspace));
  peer.rank = 1;
  pmix_value_t* got = NULL;
  PMIx_Get(&peer, "cap-str", NULL, 0, &got);
  if (argc > 1 && strcmp(argv[1], "abort") == 0) PMIx_Abort(7, "captured abort", NULL, 0);
  PMIx_Finalize();
  return 0;
}
