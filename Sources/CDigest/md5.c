// MD5 as RFC 1321 specifies it, written for a state that can be stored and resumed.
#include "CDigest.h"
#include <string.h>

// The four rounds' mixing functions in the forms that need fewest operations and let the
// additions start before the mix is done (G as a sum of two disjoint ANDs).
#define F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define G(x, y, z) (((x) & (z)) + ((y) & ~(z)))
#define H(x, y, z) ((x) ^ (y) ^ (z))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))
#define ROTATE(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define STEP(f, a, b, c, d, word, shift, sine) \
    do {                                         \
        (a) += f((b), (c), (d)) + (word) + (uint32_t)(sine); \
        (a) = ROTATE((a), (shift)) + (b);        \
    } while (0)
#define FF(a, b, c, d, w, s, k) STEP(F, a, b, c, d, w, s, k)
#define GG(a, b, c, d, w, s, k) STEP(G, a, b, c, d, w, s, k)
#define HH(a, b, c, d, w, s, k) STEP(H, a, b, c, d, w, s, k)
#define II(a, b, c, d, w, s, k) STEP(I, a, b, c, d, w, s, k)

static inline uint32_t load_le32(const uint8_t *bytes) {
    return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) | ((uint32_t)bytes[3] << 24);
}

// The 64 steps written out (word order, shifts and RFC 1321's sine constants per step): a loop
// choosing the function and the word on each step ran at half the speed of BoringSSL's MD5, and
// file-mode resumable uploads hash every byte through this.
static void transform(uint32_t state[4], const uint8_t block[64]) {
    uint32_t words[16];
    for (int i = 0; i < 16; i++) words[i] = load_le32(block + 4 * i);
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    FF(a, b, c, d, words[0], 7, 0xd76aa478);
    FF(d, a, b, c, words[1], 12, 0xe8c7b756);
    FF(c, d, a, b, words[2], 17, 0x242070db);
    FF(b, c, d, a, words[3], 22, 0xc1bdceee);
    FF(a, b, c, d, words[4], 7, 0xf57c0faf);
    FF(d, a, b, c, words[5], 12, 0x4787c62a);
    FF(c, d, a, b, words[6], 17, 0xa8304613);
    FF(b, c, d, a, words[7], 22, 0xfd469501);
    FF(a, b, c, d, words[8], 7, 0x698098d8);
    FF(d, a, b, c, words[9], 12, 0x8b44f7af);
    FF(c, d, a, b, words[10], 17, 0xffff5bb1);
    FF(b, c, d, a, words[11], 22, 0x895cd7be);
    FF(a, b, c, d, words[12], 7, 0x6b901122);
    FF(d, a, b, c, words[13], 12, 0xfd987193);
    FF(c, d, a, b, words[14], 17, 0xa679438e);
    FF(b, c, d, a, words[15], 22, 0x49b40821);
    GG(a, b, c, d, words[1], 5, 0xf61e2562);
    GG(d, a, b, c, words[6], 9, 0xc040b340);
    GG(c, d, a, b, words[11], 14, 0x265e5a51);
    GG(b, c, d, a, words[0], 20, 0xe9b6c7aa);
    GG(a, b, c, d, words[5], 5, 0xd62f105d);
    GG(d, a, b, c, words[10], 9, 0x02441453);
    GG(c, d, a, b, words[15], 14, 0xd8a1e681);
    GG(b, c, d, a, words[4], 20, 0xe7d3fbc8);
    GG(a, b, c, d, words[9], 5, 0x21e1cde6);
    GG(d, a, b, c, words[14], 9, 0xc33707d6);
    GG(c, d, a, b, words[3], 14, 0xf4d50d87);
    GG(b, c, d, a, words[8], 20, 0x455a14ed);
    GG(a, b, c, d, words[13], 5, 0xa9e3e905);
    GG(d, a, b, c, words[2], 9, 0xfcefa3f8);
    GG(c, d, a, b, words[7], 14, 0x676f02d9);
    GG(b, c, d, a, words[12], 20, 0x8d2a4c8a);
    HH(a, b, c, d, words[5], 4, 0xfffa3942);
    HH(d, a, b, c, words[8], 11, 0x8771f681);
    HH(c, d, a, b, words[11], 16, 0x6d9d6122);
    HH(b, c, d, a, words[14], 23, 0xfde5380c);
    HH(a, b, c, d, words[1], 4, 0xa4beea44);
    HH(d, a, b, c, words[4], 11, 0x4bdecfa9);
    HH(c, d, a, b, words[7], 16, 0xf6bb4b60);
    HH(b, c, d, a, words[10], 23, 0xbebfbc70);
    HH(a, b, c, d, words[13], 4, 0x289b7ec6);
    HH(d, a, b, c, words[0], 11, 0xeaa127fa);
    HH(c, d, a, b, words[3], 16, 0xd4ef3085);
    HH(b, c, d, a, words[6], 23, 0x04881d05);
    HH(a, b, c, d, words[9], 4, 0xd9d4d039);
    HH(d, a, b, c, words[12], 11, 0xe6db99e5);
    HH(c, d, a, b, words[15], 16, 0x1fa27cf8);
    HH(b, c, d, a, words[2], 23, 0xc4ac5665);
    II(a, b, c, d, words[0], 6, 0xf4292244);
    II(d, a, b, c, words[7], 10, 0x432aff97);
    II(c, d, a, b, words[14], 15, 0xab9423a7);
    II(b, c, d, a, words[5], 21, 0xfc93a039);
    II(a, b, c, d, words[12], 6, 0x655b59c3);
    II(d, a, b, c, words[3], 10, 0x8f0ccc92);
    II(c, d, a, b, words[10], 15, 0xffeff47d);
    II(b, c, d, a, words[1], 21, 0x85845dd1);
    II(a, b, c, d, words[8], 6, 0x6fa87e4f);
    II(d, a, b, c, words[15], 10, 0xfe2ce6e0);
    II(c, d, a, b, words[6], 15, 0xa3014314);
    II(b, c, d, a, words[13], 21, 0x4e0811a1);
    II(a, b, c, d, words[4], 6, 0xf7537e82);
    II(d, a, b, c, words[11], 10, 0xbd3af235);
    II(c, d, a, b, words[2], 15, 0x2ad7d2bb);
    II(b, c, d, a, words[9], 21, 0xeb86d391);
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
