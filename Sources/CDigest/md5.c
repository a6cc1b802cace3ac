// MD5 as RFC 1321 specifies it, written for a state that can be stored and resumed.
#include "CDigest.h"
#include <string.h>

static const uint32_t sines[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const uint8_t shifts[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static inline uint32_t rotate_left(uint32_t value, uint8_t count) {
    return (value << count) | (value >> (32 - count));
}

static void transform(uint32_t state[4], const uint8_t block[64]) {
    uint32_t words[16];
    for (int i = 0; i < 16; i++) {
        words[i] = (uint32_t)block[i * 4] | ((uint32_t)block[i * 4 + 1] << 8) | ((uint32_t)block[i * 4 + 2] << 16)
                   | ((uint32_t)block[i * 4 + 3] << 24);
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    for (int i = 0; i < 64; i++) {
        uint32_t mixed;
        int index;
        if (i < 16) {
            mixed = (b & c) | (~b & d);
            index = i;
        } else if (i < 32) {
            mixed = (d & b) | (~d & c);
            index = (5 * i + 1) & 15;
        } else if (i < 48) {
            mixed = b ^ c ^ d;
            index = (3 * i + 5) & 15;
        } else {
            mixed = c ^ (b | ~d);
            index = (7 * i) & 15;
        }
        uint32_t next = d;
        d = c;
        c = b;
        b = b + rotate_left(a + mixed + sines[i] + words[index], shifts[i]);
        a = next;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
}

void cdg_md5_init(cdg_md5 *context) {
    context->state[0] = 0x67452301;
    context->state[1] = 0xefcdab89;
    context->state[2] = 0x98badcfe;
    context->state[3] = 0x10325476;
    context->length = 0;
    memset(context->buffer, 0, sizeof context->buffer);
}

void cdg_md5_update(cdg_md5 *context, const void *bytes, size_t count) {
    const uint8_t *input = bytes;
    size_t held = (size_t)(context->length & 63);
    context->length += count;
    if (held > 0) {
        size_t take = 64 - held < count ? 64 - held : count;
        memcpy(context->buffer + held, input, take);
        input += take;
        count -= take;
        held += take;
        if (held < 64) return;
        transform(context->state, context->buffer);
    }
    while (count >= 64) {
        transform(context->state, input);
        input += 64;
        count -= 64;
    }
    memcpy(context->buffer, input, count);
}

void cdg_md5_digest(const cdg_md5 *context, uint8_t digest[16]) {
    cdg_md5 copy = *context;
    uint64_t bits = copy.length * 8;
    uint8_t padding[72] = {0x80};
    size_t held = (size_t)(copy.length & 63);
    size_t pad = held < 56 ? 56 - held : 120 - held;
    cdg_md5_update(&copy, padding, pad);
    uint8_t trailer[8];
    for (int i = 0; i < 8; i++) trailer[i] = (uint8_t)(bits >> (8 * i));
    cdg_md5_update(&copy, trailer, 8);
    for (int i = 0; i < 4; i++) {
        digest[i * 4] = (uint8_t)copy.state[i];
        digest[i * 4 + 1] = (uint8_t)(copy.state[i] >> 8);
        digest[i * 4 + 2] = (uint8_t)(copy.state[i] >> 16);
        digest[i * 4 + 3] = (uint8_t)(copy.state[i] >> 24);
    }
}
