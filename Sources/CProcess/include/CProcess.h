#ifndef CPROCESS_H
#define CPROCESS_H

#include <stddef.h>

/// Fixes glibc's mmap threshold (disabling its dynamic raise), so blocks of at least `bytes`
/// get their own mapping and go back to the system when freed. Returns 0 where unsupported.
int cprocess_fix_mmap_threshold(size_t bytes);

#endif
