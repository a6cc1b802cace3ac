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

#endif
