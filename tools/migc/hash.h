/*
 * hash.h -- SHA-256 of scripts and the chain over a folder, via OpenSSL's
 * libcrypto (never a hand-rolled digest).
 *
 * A script's hash is the SHA-256 of its normalized text.  The chain hash of
 * migration i is SHA-256(chain[i-1] || version as 8 bytes big-endian || id ||
 * 0x00 || up hash), with chain[-1] all zero: one 32-byte value that stands
 * for "every migration up to this one, unmodified, in this order".
 */
#ifndef MIGC_HASH_H
#define MIGC_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <migc/catalog.h>

/* SHA-256 of len bytes at data into out.  Exits with MC_EXIT_IO if
 * libcrypto fails (it does not, short of memory exhaustion). */
void mc_sha256(const void *data, size_t len,
               unsigned char out[MIGC_SHA256_SIZE]);

/* The chain step described above. */
void mc_chain_step(const unsigned char prev[MIGC_SHA256_SIZE], int64_t version,
                   const char *id, const unsigned char up[MIGC_SHA256_SIZE],
                   unsigned char out[MIGC_SHA256_SIZE]);

#endif /* MIGC_HASH_H */
