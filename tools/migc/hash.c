/*
 * hash.c -- SHA-256 through OpenSSL's EVP interface.  See hash.h.
 */
#include "hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "util.h"

static void crypto_failure(void)
{
    fprintf(stderr, "migc: error: SHA-256 computation failed in libcrypto\n");
    exit(MC_EXIT_IO);
}

void mc_sha256(const void *data, size_t len,
               unsigned char out[MIGC_SHA256_SIZE])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 ||
        n != MIGC_SHA256_SIZE)
        crypto_failure();
}

void mc_chain_step(const unsigned char prev[MIGC_SHA256_SIZE], int64_t version,
                   const char *id, const unsigned char up[MIGC_SHA256_SIZE],
                   unsigned char out[MIGC_SHA256_SIZE])
{
    unsigned char be[8];
    uint64_t v = (uint64_t)version;
    for (int i = 7; i >= 0; i--) {
        be[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, prev, MIGC_SHA256_SIZE) != 1 ||
        EVP_DigestUpdate(ctx, be, sizeof be) != 1 ||
        EVP_DigestUpdate(ctx, id, strlen(id) + 1) != 1 ||
        EVP_DigestUpdate(ctx, up, MIGC_SHA256_SIZE) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != MIGC_SHA256_SIZE)
        crypto_failure();
    EVP_MD_CTX_free(ctx);
}
