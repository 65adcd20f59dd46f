// S3's additional checksums that qsfs can send with uploads (--checksum): CRC32C and CRC64NVME.
// Why C, in the FUSE addon that is built anyway: the SDK's JavaScript implementations run at
// 85-195 MiB/s on this machine (10 s of CPU per GiB for CRC32C), against 1.1 GiB/s for MD5. Here
// CRC32C uses the SSE 4.2 instruction where the CPU has it (several GiB/s), and both fall back to
// slicing-by-8 tables (about 1-2 GiB/s). test/unit/checksums.test.ts checks both against the
// SDK's implementations.
//
// Each function continues a checksum: crc(previous, bytes), with previous = 0 to start, so a
// body made of several buffers is summed buffer by buffer.
#include <node_api.h>
#include <stdint.h>
#include <string.h>

static uint32_t crc32c_table[8][256];
static uint64_t crc64nvme_table[8][256];
static int tables_ready = 0;
static int crc32c_hardware = 0;

static void make_tables (void) {
  for (uint32_t n = 0; n < 256; n++) {
    uint32_t c = n;
    uint64_t d = n;
    for (int k = 0; k < 8; k++) {
      c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      d = (d & 1) ? (d >> 1) ^ 0x9A6C9329AC4BC9B5ull : d >> 1;
    }
    crc32c_table[0][n] = c;
    crc64nvme_table[0][n] = d;
  }
  for (uint32_t n = 0; n < 256; n++) {
    for (int t = 1; t < 8; t++) {
      crc32c_table[t][n] = (crc32c_table[t - 1][n] >> 8) ^ crc32c_table[0][crc32c_table[t - 1][n] & 0xff];
      crc64nvme_table[t][n] = (crc64nvme_table[t - 1][n] >> 8) ^ crc64nvme_table[0][crc64nvme_table[t - 1][n] & 0xff];
    }
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  crc32c_hardware = __builtin_cpu_supports("sse4.2");
#endif
  tables_ready = 1;
}

static uint32_t crc32c_tables (uint32_t crc, const uint8_t *p, size_t len) {
  while (len > 0 && ((uintptr_t) p & 7) != 0) {
    crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
    len--;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w ^= crc;
    crc = crc32c_table[7][w & 0xff] ^ crc32c_table[6][(w >> 8) & 0xff] ^
          crc32c_table[5][(w >> 16) & 0xff] ^ crc32c_table[4][(w >> 24) & 0xff] ^
          crc32c_table[3][(w >> 32) & 0xff] ^ crc32c_table[2][(w >> 40) & 0xff] ^
          crc32c_table[1][(w >> 48) & 0xff] ^ crc32c_table[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len-- > 0) crc = (crc >> 8) ^ crc32c_table[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42 (uint32_t crc, const uint8_t *p, size_t len) {
  uint64_t c = crc;
  while (len > 0 && ((uintptr_t) p & 7) != 0) {
    c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
    len--;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = __builtin_ia32_crc32di(c, w);
    p += 8;
    len -= 8;
  }
  while (len-- > 0) c = __builtin_ia32_crc32qi((uint32_t) c, *p++);
  return (uint32_t) c;
}
#endif

static uint64_t crc64nvme_tables (uint64_t crc, const uint8_t *p, size_t len) {
  while (len > 0 && ((uintptr_t) p & 7) != 0) {
    crc = (crc >> 8) ^ crc64nvme_table[0][(crc ^ *p++) & 0xff];
    len--;
  }
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    w ^= crc;
    crc = crc64nvme_table[7][w & 0xff] ^ crc64nvme_table[6][(w >> 8) & 0xff] ^
          crc64nvme_table[5][(w >> 16) & 0xff] ^ crc64nvme_table[4][(w >> 24) & 0xff] ^
          crc64nvme_table[3][(w >> 32) & 0xff] ^ crc64nvme_table[2][(w >> 40) & 0xff] ^
          crc64nvme_table[1][(w >> 48) & 0xff] ^ crc64nvme_table[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len-- > 0) crc = (crc >> 8) ^ crc64nvme_table[0][(crc ^ *p++) & 0xff];
  return crc;
}

static int bytes_of (napi_env env, napi_value v, void **data, size_t *len) {
  bool is_buffer = false;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "a Buffer is expected");
    return 0;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

// crc32c(buffer, previous: number): number
napi_value qsfs_crc32c (napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 2 || !bytes_of(env, argv[0], &data, &len)) return NULL;
  uint32_t previous = 0;
  napi_get_value_uint32(env, argv[1], &previous);
  if (!tables_ready) make_tables();
  uint32_t crc = ~previous;
#if defined(__x86_64__)
  crc = crc32c_hardware ? crc32c_sse42(crc, data, len) : crc32c_tables(crc, data, len);
#else
  crc = crc32c_tables(crc, data, len);
#endif
  napi_value out;
  napi_create_uint32(env, ~crc, &out);
  return out;
}

// crc64nvme(buffer, previous: bigint): bigint
napi_value qsfs_crc64nvme (napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  if (argc < 2 || !bytes_of(env, argv[0], &data, &len)) return NULL;
  uint64_t previous = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, argv[1], &previous, &lossless);
  if (!tables_ready) make_tables();
  uint64_t crc = ~crc64nvme_tables(~previous, data, len);
  napi_value out;
  napi_create_bigint_uint64(env, crc, &out);
  return out;
}

// Whether CRC32C runs on the CPU's instruction (for the log line at start).
napi_value qsfs_crc32c_hardware (napi_env env, napi_callback_info info) {
  (void) info;
  if (!tables_ready) make_tables();
  napi_value out;
  napi_get_boolean(env, crc32c_hardware != 0, &out);
  return out;
}
