#ifndef MEPHISTO_FUZZ_H
#define MEPHISTO_FUZZ_H

/*
 * Shared by the fuzz harnesses in fuzz/.  Each harness is one file that
 * defines LLVMFuzzerTestOneInput() and calls the project's real parsing
 * code.  It is linked either with libFuzzer (clang -fsanitize=fuzzer, by
 * "make fuzz") or with fuzz/replay.c, a plain main() that feeds it files
 * (the regression cases replayed by "make check").
 *
 * A harness calls abort() when it sees an invariant broken, so libFuzzer
 * and the replay driver report it as a crash.
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A path whose file holds exactly the SIZE bytes of DATA, for loaders
 * that read a file by name.  The file is a memfd reached through
 * /proc/self/fd, created once and rewritten on every call; the returned
 * string is static.  Aborts if the file cannot be written.
 */
const char *fuzz_file(const uint8_t *data, size_t size);

#endif
