#ifndef CDIGEST_H
#define CDIGEST_H

#include <stddef.h>
#include <stdint.h>

/// MD5 (RFC 1321) whose running state is a plain value: a resumable upload's hash continues
/// across requests and processes by storing this struct between chunks. swift-crypto's hash
/// state cannot be saved, and MD5 is the ETag an object's bytes must have.
typedef struct {
    uint32_t state[4];
    /// Bytes hashed so far.
    uint64_t length;
    /// The bytes of an incomplete 64-byte block (length % 64 of them).
    uint8_t buffer[64];
} cdg_md5;

void cdg_md5_init(cdg_md5 *context);
void cdg_md5_update(cdg_md5 *context, const void *bytes, size_t count);
/// The digest of everything hashed so far; `context` is left as it was.
void cdg_md5_digest(const cdg_md5 *context, uint8_t digest[16]);

/// Whether this CPU has carry-less multiplication (PCLMULQDQ) and SSE4.1, which
/// `cdg_crc32_fold` needs.
int cdg_crc32_fold_available(void);

/// Advances a reflected CRC-32 (IEEE polynomial, as zlib and `x-amz-checksum-crc32`) over the
/// first `count & ~15` bytes of `bytes` by folding 64 bytes at a time with carry-less
/// multiplication; `crc` is the running register (initially 0xFFFFFFFF, inverted at the end).
/// `count` must be at least 64. Returns the new register.
uint32_t cdg_crc32_fold(uint32_t crc, const uint8_t *bytes, size_t count);

#endif
