#!/bin/bash
# Rebuilds the ELF seeds in corpus/elf: tiny shared libraries and one program
# linked by clang/ld with the sonames, symbols and strings the classifier
# looks for (see library_classifier.h), 64- and 32-bit, stripped and not.
# Small pages and no libc keep each file near 2 KB, so libFuzzer's input
# length limit (the largest seed) stays small and runs stay fast.
#   bash image/fuzz/corpus/make_seeds.sh
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/elf
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
cd "$work"
cat > mpich.c <<'C'
const char MPII_Version_string[] = "4.0.2";
const char MPII_Version_configure[] = "'--with-pmi=pmi2/simple' '--with-device=ch4:ofi'";
const char banner[] = "MPICH Version:\t4.0.2";
int MPI_Init(int *c, char ***v) { return 0; }
C
cat > pmix.c <<'C'
const char pmix_version_string[] = "OpenPMIx 4.2.2 (PMIx Standard: 4.2, Stable ABI: 0.0)";
int pmix_mca_psec_native_component;
int pmix_mca_gds_hash_component;
int pmix_mca_bfrops_v41_component;
int PMIx_Init(void) { return 0; }
C
cat > pmi2.c <<'C'
int PMI2_Init(int *a, int *b, int *c, int *d) { return 0; }
int PMI2_KVS_Put(const char *k, const char *v) { return 0; }
C
cat > ompi.c <<'C'
const char ompi_version[] = "v4.1.4";
const char banner[] = "Open MPI v4.1.4";
int ompi_mpi_init(void) { return 0; }
C
cat > app.c <<'C'
extern int MPI_Init(int *, char ***);
int main(int c, char **v) { return MPI_Init(&c, &v); }
C
small=(-nostdlib -Os -fPIC -Wl,-z,noseparate-code -Wl,-z,max-page-size=16 -Wl,--hash-style=gnu)
lib() {  # OUTPUT SONAME SOURCE [flags]
  local output=$1 soname=$2 source=$3; shift 3
  clang "${small[@]}" -shared -Wl,-soname,"$soname" "$source" -o "$out/$output" "$@"
}
mkdir -p "$out"
lib libmpich.so.12 libmpich.so.12 mpich.c -s
lib libmpich.so.12-unstripped libmpich.so.12 mpich.c
lib libmpich32.so.12 libmpich.so.12 mpich.c -s -m32
lib libpmix.so.2 libpmix.so.2 pmix.c -s
lib libpmi2.so.0 libpmi2.so.0 pmi2.c -s
lib libmpi.so.40 libmpi.so.40 ompi.c -s
lib mca_psec_native.so mca_psec_native.so pmi2.c -s
clang "${small[@]}" -s app.c -L"$out" -l:libmpich.so.12 -Wl,-e,main -o "$out/app-needs-libmpich"
ls -l "$out"
