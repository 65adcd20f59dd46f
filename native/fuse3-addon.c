// qsfs's FUSE addon: fuse-native's N-API interface (the one its index.js drives, unchanged)
// implemented on libfuse 3's high-level API instead of libfuse 2.9.
//
// Derived from fuse-native 2.2.6 (MIT, Mathias Buus and contributors), whose structure it keeps:
// every libfuse worker thread hands its request to the JS thread through a uv_async handle of its
// own and waits on a semaphore for the answer. What differs, and why:
//   - libfuse 3 signatures (getattr/chmod/chown/truncate/utimens take the file handle, rename
//     takes flags, readdir takes flags and fills entries with attributes for readdirplus);
//   - the caller of every operation (uid, gid, pid, umask) is published in `caller` before the
//     JS handler runs, so src/fs can give new files to the user who made them;
//   - readdir entries that come with attributes are handed to the kernel as readdirplus entries
//     (no LOOKUP per name afterwards);
//   - getxattr/listxattr of names no object can store (security.*, system.*: the kernel asks for
//     security.capability before every write) are answered here without a trip into JS;
//   - the multithreaded loop runs up to QSFS_FUSE_MAX_THREADS workers (libfuse's default is
//     10), and the kernel may keep QSFS_FUSE_MAX_BACKGROUND read-ahead requests in flight;
//   - the fixes our libfuse 2 build carried: utimens gets the modification time (fuse-native
//     passed the access time twice), UTIME_OMIT and UTIME_NOW come through as distinct values,
//     QSFS_FUSE_SINGLE_THREAD selects libfuse's single-threaded loop (qsfs -s), and the state of
//     an exited worker thread is kept for the next one instead of leaking a uv_async handle.
#define FUSE_USE_VERSION 312

#include <uv.h>
#include <node_api.h>
#include <napi-macros.h>

#include <string.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <assert.h>
#include <errno.h>

#include <fuse.h>
#include <fuse_opt.h>
#include <fuse_common.h>
#include <fuse_lowlevel.h>

#include <unistd.h>
#include <sys/wait.h>
#include <pthread.h>

#if FUSE_MAJOR_VERSION != 3 || FUSE_MINOR_VERSION < 12
#error "qsfs needs libfuse 3.12 or newer (Debian 12: apt-get install libfuse3-dev fuse3)"
#endif

napi_status napi_detach_arraybuffer(napi_env env, napi_value buf);

#define FUSE_NATIVE_CALLBACK(fn, blk)\
  napi_env env = ft->env;\
  napi_handle_scope scope;\
  napi_open_handle_scope(env, &scope);\
  napi_value ctx;\
  napi_get_reference_value(env, ft->ctx, &ctx);\
  napi_value callback;\
  napi_get_reference_value(env, fn, &callback);\
  blk\
  napi_close_handle_scope(env, scope);

#define FH_PATH_SIZE 24

// The path JS gets for an operation libfuse gives no path (a file removed while open): "#<fh>",
// which no kernel path can be (they all start with '/'); "" without a handle.
static const char *handle_path (char buf[FH_PATH_SIZE], const struct fuse_file_info *info) {
  if (info != NULL) snprintf(buf, FH_PATH_SIZE, "#%llu", (unsigned long long) info->fh);
  else buf[0] = '\0';
  return buf;
}

// Runs on a libfuse worker thread: note who asked, wake the JS thread, wait for its answer.
// A file removed while open has no path any more: libfuse gives its operations (read, write,
// fstat, ftruncate, fchmod, ...) a NULL path. JS gets "#<fh>" instead, a string no kernel path
// can be (they all start with '/'), and answers from the open file's state by its handle.
#define FUSE_NATIVE_HANDLER(name, blk)\
  gather_barrier(op_##name);\
  fuse_thread_locals_t *l = get_thread_locals();\
  l->op = op_##name;\
  l->op_fn = fuse_native_dispatch_##name;\
  note_caller(l);\
  l->path = NULL;\
  l->info = NULL;\
  blk\
  if (l->path == NULL) l->path = handle_path(l->fh_path, l->info);\
  uv_async_send(&(l->async));\
  uv_sem_wait(&(l->sem));\
  return l->res;

#define FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, signalBlk)\
  static void fuse_native_dispatch_##name (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {\
    uint32_t op = op_##name;\
    publish_caller(l);\
    FUSE_NATIVE_CALLBACK(ft->handlers[op], {\
      napi_value argv[callbackArgs + 2];\
      napi_get_reference_value(env, l->self, &(argv[0]));\
      napi_create_uint32(env, l->op, &(argv[1]));\
      callbackBlk\
      NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, callbackArgs + 2, argv, NULL)\
    })\
  }\
  NAPI_METHOD(fuse_native_signal_##name) {\
    NAPI_ARGV(signalArgs + 2)\
    NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);\
    NAPI_ARGV_INT32(res, 1);\
    signalBlk\
    l->res = res;\
    uv_sem_post(&(l->sem));\
    return NULL;\
  }\
  static int fuse_native_##name signature {\
    FUSE_NATIVE_HANDLER(name, callBlk)\
  }

#define FUSE_METHOD_VOID(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk)\
  FUSE_METHOD(name, callbackArgs, signalArgs, signature, callBlk, callbackBlk, {})

#define FUSE_UINT64_TO_INTS_ARGV(n, pos)\
  uint32_t low##pos = n % 4294967296;\
  uint32_t high##pos = (n - low##pos) / 4294967296;\
  napi_create_uint32(env, low##pos, &(argv[pos]));\
  napi_create_uint32(env, high##pos, &(argv[pos + 1]));

#define FUSE_FH_ARGV(pos)\
  napi_create_uint32(env, l->info != NULL ? l->info->fh : 0, &(argv[pos]));

// Opcodes: the numbers fuse-native's index.js knows.

static const uint32_t op_init = 0;
static const uint32_t op_error = 1;
static const uint32_t op_access = 2;
static const uint32_t op_statfs = 3;
static const uint32_t op_fgetattr = 4;
static const uint32_t op_getattr = 5;
static const uint32_t op_flush = 6;
static const uint32_t op_fsync = 7;
static const uint32_t op_fsyncdir = 8;
static const uint32_t op_readdir = 9;
static const uint32_t op_truncate = 10;
static const uint32_t op_ftruncate = 11;
static const uint32_t op_utimens = 12;
static const uint32_t op_readlink = 13;
static const uint32_t op_chown = 14;
static const uint32_t op_chmod = 15;
static const uint32_t op_mknod = 16;
static const uint32_t op_setxattr = 17;
static const uint32_t op_getxattr = 18;
static const uint32_t op_listxattr = 19;
static const uint32_t op_removexattr = 20;
static const uint32_t op_open = 21;
static const uint32_t op_opendir = 22;
static const uint32_t op_read = 23;
static const uint32_t op_write = 24;
static const uint32_t op_release = 25;
static const uint32_t op_releasedir = 26;
static const uint32_t op_create = 27;
static const uint32_t op_unlink = 28;
static const uint32_t op_rename = 29;
static const uint32_t op_link = 30;
static const uint32_t op_symlink = 31;
static const uint32_t op_mkdir = 32;
static const uint32_t op_rmdir = 33;

// Data structures

typedef struct {
  napi_env env;
  pthread_t thread;
  pthread_attr_t attr;
  napi_ref ctx;
  napi_ref malloc;

  // Operation handlers
  napi_ref handlers[35];

  struct fuse *fuse;
  struct fuse_conn_info_opts *conn_opts;
  char mnt[1024];
  char mntopts[1024];
  int mounted;

  uv_async_t async;
  uv_mutex_t mut;
  uv_sem_t sem;
} fuse_thread_t;

typedef struct {
  napi_ref self;

  // Opcode
  uint32_t op;
  void *op_fn;

  // The caller (fuse_get_context on the worker thread)
  uint32_t caller_uid;
  uint32_t caller_gid;
  uint32_t caller_pid;
  uint32_t caller_umask;

  // Payloads
  const char *path;
  /** "#<fh>": the path given to JS for an open file libfuse has no path for (handle_path). */
  char fh_path[FH_PATH_SIZE];
  const char *dest;
  char *linkname;
  struct fuse_file_info *info;
  const void *buf;
  off_t offset;
  size_t len;
  mode_t mode;
  dev_t dev;
  uid_t uid;
  gid_t gid;
  uint64_t atime;
  uint64_t mtime;
  int32_t res;

  // Extended attributes
  const char *name;
  const char *value;
  char *list;
  size_t size;
  uint32_t position;
  int flags;

  // Stat + Statfs
  struct stat *stat;
  struct statvfs *statvfs;

  // Readdir
  fuse_fill_dir_t readdir_filler;

  // Internal bookkeeping
  fuse_thread_t *fuse;
  uv_sem_t sem;
  uv_async_t async;

} fuse_thread_locals_t;

static pthread_key_t thread_locals_key;
static fuse_thread_locals_t* get_thread_locals();
static void gather_barrier (uint32_t op);

// The caller of the operation the JS thread is running now: uid, gid, pid, umask. JS reads it
// synchronously at the start of a handler (binding.caller, a Uint32 view of this array).
static uint32_t current_caller[4];

// How many FUSE sessions of this process have ended (the kernel closed the connection: no request
// will come any more, not even the RELEASE of a file it still had open). JS reads it as
// binding.sessions_ended[0].
static uint32_t sessions_ended[1];

static void note_caller (fuse_thread_locals_t *l) {
  struct fuse_context *c = fuse_get_context();
  l->caller_uid = c != NULL ? c->uid : 0;
  l->caller_gid = c != NULL ? c->gid : 0;
  l->caller_pid = c != NULL ? c->pid : 0;
  l->caller_umask = c != NULL ? c->umask : 0;
}

static void publish_caller (fuse_thread_locals_t *l) {
  current_caller[0] = l->caller_uid;
  current_caller[1] = l->caller_gid;
  current_caller[2] = l->caller_pid;
  current_caller[3] = l->caller_umask;
}

// Extended attribute namespaces an object can hold (QSFS_FUSE_XATTR_PREFIXES, comma-separated;
// src/fs/xattrs.ts sets it). Other names are answered here: no attribute, no trip into JS.
#define MAX_XATTR_PREFIXES 8
static char xattr_prefixes[MAX_XATTR_PREFIXES][32];
static int xattr_prefix_count = -1; // -1: every name goes to JS

static void read_xattr_prefixes () {
  const char *spec = getenv("QSFS_FUSE_XATTR_PREFIXES");
  xattr_prefix_count = -1;
  if (spec == NULL) return;
  xattr_prefix_count = 0;
  const char *p = spec;
  while (*p != '\0' && xattr_prefix_count < MAX_XATTR_PREFIXES) {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t) (end - p) : strlen(p);
    if (n > 0 && n < sizeof(xattr_prefixes[0])) {
      memcpy(xattr_prefixes[xattr_prefix_count], p, n);
      xattr_prefixes[xattr_prefix_count][n] = '\0';
      xattr_prefix_count++;
    }
    if (end == NULL) break;
    p = end + 1;
  }
}

static int xattr_name_stored (const char *name) {
  if (xattr_prefix_count < 0) return 1;
  for (int i = 0; i < xattr_prefix_count; i++) {
    if (strncmp(name, xattr_prefixes[i], strlen(xattr_prefixes[i])) == 0) return 1;
  }
  return 0;
}

static unsigned int env_uint (const char *name, unsigned int fallback, unsigned int max) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') return fallback;
  char *end;
  unsigned long n = strtoul(v, &end, 10);
  if (*end != '\0' || n == 0) return fallback;
  return n > max ? max : (unsigned int) n;
}

// Helpers

static uint64_t uint32s_to_uint64 (uint32_t **ints) {
  uint64_t low = *((*ints)++);
  uint64_t high = *((*ints)++);
  return high * 4294967296 + low;
}

static void uint32s_to_timespec (struct timespec* ts, uint32_t** ints) {
  uint64_t ms = uint32s_to_uint64(ints);
  ts->tv_sec = ms / 1000;
  ts->tv_nsec = (ms % 1000) * 1000000;
}

// utimens times in ms; UTIME_OMIT and UTIME_NOW as 2^53 and 2^53 + 2 (exact in a double,
// src/fuse/operations.ts reads them).
static uint64_t timespec_to_uint64 (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 9007199254740992ULL;
  if (ts->tv_nsec == UTIME_NOW) return 9007199254740994ULL;
  uint64_t ms = (ts->tv_sec * 1000) + (ts->tv_nsec / 1000000);
  return ms;
}

static void populate_stat (uint32_t *ints, struct stat* stat) {
  stat->st_mode = *ints++;
  stat->st_uid = *ints++;
  stat->st_gid = *ints++;
  stat->st_size = uint32s_to_uint64(&ints);
  stat->st_dev = *ints++;
  stat->st_nlink = *ints++;
  stat->st_ino = *ints++;
  stat->st_rdev = *ints++;
  stat->st_blksize = *ints++;
  stat->st_blocks = uint32s_to_uint64(&ints);
  uint32s_to_timespec(&stat->st_atim, &ints);
  uint32s_to_timespec(&stat->st_mtim, &ints);
  uint32s_to_timespec(&stat->st_ctim, &ints);
}

static void populate_statvfs (uint32_t *ints, struct statvfs* statvfs) {
  statvfs->f_bsize = *ints++;
  statvfs->f_frsize = *ints++;
  statvfs->f_blocks = *ints++;
  statvfs->f_bfree = *ints++;
  statvfs->f_bavail = *ints++;
  statvfs->f_files = *ints++;
  statvfs->f_ffree = *ints++;
  statvfs->f_favail = *ints++;
  statvfs->f_fsid = *ints++;
  statvfs->f_flag = *ints++;
  statvfs->f_namemax = *ints++;
}

// Methods

FUSE_METHOD(statfs, 1, 1, (const char * path, struct statvfs *statvfs), {
  l->path = path;
  l->statvfs = statvfs;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_statvfs(ints, l->statvfs);
})

// libfuse 3 folds fgetattr into getattr; fuse-native's JS answers both from ops.getattr.
FUSE_METHOD(getattr, 1, 1, (const char *path, struct stat *stat, struct fuse_file_info *info), {
  l->path = path;
  l->stat = stat;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_BUFFER_CAST(uint32_t*, ints, 2)
  populate_stat(ints, l->stat);
})

FUSE_METHOD_VOID(access, 2, 0, (const char *path, int mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD(open, 2, 1, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->info != NULL ? l->info->flags : 0, &(argv[3]));
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

// The kernel may keep attributes for attr_timeout (set in init). An open is where qsfs settles
// which version of the object the file reads: its size may differ from the one the kernel kept
// (another client replaced the object), and the kernel clamps reads at the size it holds. So
// after every open the kernel's attributes are dropped, and the next stat or read past the size
// it knew asks again, getting the open version's size. From this worker thread, before the open
// is answered: no page of this file is locked by the request, and the JS thread stays free to
// answer a concurrent read's locked pages, which the notification may wait for.
static double kernel_attr_timeout = 0;

static int fuse_native_open_fresh (const char *path, struct fuse_file_info *info) {
  int res = fuse_native_open(path, info);
  if (res == 0 && kernel_attr_timeout > 0) {
    struct fuse *f = fuse_get_context()->fuse;
    if (f != NULL) fuse_invalidate_path(f, path);
  }
  return res;
}

FUSE_METHOD(opendir, 3, 1, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
  napi_create_uint32(env, l->info != NULL ? l->info->flags : 0, &(argv[4]));
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD(create, 2, 1, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->mode = mode;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
}, {
  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})

FUSE_METHOD_VOID(utimens, 5, 0, (const char *path, const struct timespec tv[2], struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)
})

FUSE_METHOD_VOID(release, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
})

FUSE_METHOD_VOID(releasedir, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
})

FUSE_METHOD(read, 6, 2, (const char *path, char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path;
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  // argv: handler, bytes, 0, the ArrayBuffer over libfuse's memory (useless once answered)
  assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

FUSE_METHOD(write, 6, 2, (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info), {
  l->path = path;
  l->buf = buf;
  l->len = len;
  l->offset = offset;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
  napi_create_external_buffer(env, l->len, (char *) l->buf, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, l->len, &(argv[5]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 6)
}, {
  assert(napi_detach_arraybuffer(env, argv[3]) == napi_ok);
})

// Small writes, gathered. Without the kernel's writeback cache (it would trust its own file sizes
// over the bucket's), every write(2) is one FUSE request, and each was one trip into JS: 8 KiB
// writes (Python's and stdio's buffers) cost a thread handoff per 8 KiB. A write of up to
// GATHER_SMALL bytes that continues the bytes gathered for its file handle is copied here and
// answered at once; JS gets the gathered bytes in one write of up to GATHER_MAX when they stop
// being contiguous or fill up, and before any other operation reaches JS (the barrier: a stat, a
// read, a flush or close sees every byte written before it). A buffer that fills while its
// writes continue in order goes to JS on a thread of its own (the deliverer) and the write that
// filled it is answered at once: waiting for JS to take each 1 MiB cost 8 KiB writes a third of
// their time. A write JS refuses later (its cache or disk failed) is reported by the next write,
// flush, fsync or close of that handle, as a file system with a page cache reports a failed
// writeback.
#define GATHER_SMALL (128 * 1024)
#define GATHER_MAX (1024 * 1024)
#define GATHER_FIRST (64 * 1024)
#define GATHER_HANDLES 16

typedef struct gathered_write {
  fuse_thread_t *ft;
  uint64_t fh;
  char *path;
  off_t offset;
  size_t len;
  size_t cap;
  char *data;
  struct gathered_write *next;
} gathered_write_t;

typedef struct deferred_error {
  uint64_t fh;
  int error;
  struct deferred_error *next;
} deferred_error_t;

static pthread_mutex_t gather_mut = PTHREAD_MUTEX_INITIALIZER;
// Held while gathered bytes travel to JS: a barrier waits for those too.
static pthread_mutex_t deliver_mut = PTHREAD_MUTEX_INITIALIZER;
static gathered_write_t *gathered = NULL;
static int gathered_handles = 0;
// Gathered buffers not yet delivered, including those on their way (the barrier's fast path).
static int gathered_live = 0;
static deferred_error_t *deferred_errors = NULL;
static int gathering_off = -1; // QSFS_FUSE_GATHER=0 turns it off

static void defer_error (uint64_t fh, int error) {
  deferred_error_t *e = malloc(sizeof(deferred_error_t));
  if (e == NULL) return;
  e->fh = fh;
  e->error = error;
  pthread_mutex_lock(&gather_mut);
  e->next = deferred_errors;
  deferred_errors = e;
  pthread_mutex_unlock(&gather_mut);
}

static int take_deferred_error (uint64_t fh) {
  int error = 0;
  pthread_mutex_lock(&gather_mut);
  for (deferred_error_t **p = &deferred_errors; *p != NULL; ) {
    if ((*p)->fh == fh) {
      deferred_error_t *e = *p;
      *p = e->next;
      if (error == 0) error = e->error;
      free(e);
    } else {
      p = &(*p)->next;
    }
  }
  pthread_mutex_unlock(&gather_mut);
  return error;
}

// Called with deliver_mut held: one write into JS; the buffer is freed.
static int deliver (gathered_write_t *g) {
  struct fuse_file_info info;
  memset(&info, 0, sizeof(info));
  info.fh = g->fh;
  int res = fuse_native_write(g->path, g->data, g->len, g->offset, &info);
  if (res >= 0 && (size_t) res != g->len) res = -EIO;
  free(g->data);
  free(g->path);
  free(g);
  __atomic_sub_fetch(&gathered_live, 1, __ATOMIC_SEQ_CST);
  return res < 0 ? res : 0;
}

// Takes out the gathered buffers matching: all (fh 0 and path NULL), one handle's, or those of
// other handles of a path.
static gathered_write_t *take_gathered (int all, uint64_t fh, const char *other_than_path_of) {
  gathered_write_t *taken = NULL;
  pthread_mutex_lock(&gather_mut);
  for (gathered_write_t **p = &gathered; *p != NULL; ) {
    gathered_write_t *g = *p;
    int match = all || g->fh == fh || (other_than_path_of != NULL && strcmp(g->path, other_than_path_of) == 0);
    if (match) {
      *p = g->next;
      gathered_handles--;
      g->next = taken;
      taken = g;
    } else {
      p = &g->next;
    }
  }
  pthread_mutex_unlock(&gather_mut);
  return taken;
}

static void deliver_list (gathered_write_t *g, uint64_t report_fh, int *report) {
  while (g != NULL) {
    gathered_write_t *next = g->next;
    uint64_t fh = g->fh;
    int res = deliver(g);
    if (res < 0) {
      if (report != NULL && fh == report_fh && *report == 0) *report = res;
      else defer_error(fh, res);
    }
    g = next;
  }
}

// The deliverer's queue: buffers on their way to JS, oldest first. Every buffer queued gets a
// ticket; whoever must see a buffer delivered (a barrier, a write that does not continue the
// gathered bytes) waits until the tickets up to its own are done. At most DELIVER_QUEUE_MAX
// filled buffers wait (the writer that would queue one more waits for room), so the memory held
// stays bounded.
#define DELIVER_QUEUE_MAX 4
static pthread_mutex_t queue_mut = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_changed = PTHREAD_COND_INITIALIZER;
static gathered_write_t *queue_head = NULL;
static gathered_write_t *queue_tail = NULL;
static int queue_len = 0;
static uint64_t tickets_issued = 0;
static uint64_t tickets_done = 0;
static int deliverer_state = 0; // 0 not started, 1 running, -1 could not start (deliver inline)
// The mount whose JS the deliverer thread calls now (it has no libfuse context of its own).
static __thread fuse_thread_t *delivering_for = NULL;

static void *deliverer_main (void *unused) {
  (void) unused;
  pthread_mutex_lock(&queue_mut);
  for (;;) {
    while (queue_head == NULL) pthread_cond_wait(&queue_changed, &queue_mut);
    gathered_write_t *g = queue_head;
    queue_head = g->next;
    if (queue_head == NULL) queue_tail = NULL;
    pthread_mutex_unlock(&queue_mut);
    delivering_for = g->ft;
    uint64_t fh = g->fh;
    int res = deliver(g);
    if (res < 0) defer_error(fh, res);
    pthread_mutex_lock(&queue_mut);
    queue_len--;
    tickets_done++;
    pthread_cond_broadcast(&queue_changed);
  }
  return NULL;
}

// Queues a list of taken buffers; returns the ticket that covers them and everything queued
// before, or 0 if there is no deliverer (the caller delivers them itself).
static uint64_t queue_for_delivery (gathered_write_t *list, int wait_for_room) {
  pthread_mutex_lock(&queue_mut);
  if (deliverer_state == 0) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    deliverer_state = pthread_create(&thread, &attr, deliverer_main, NULL) == 0 ? 1 : -1;
    pthread_attr_destroy(&attr);
  }
  if (deliverer_state < 0) {
    pthread_mutex_unlock(&queue_mut);
    return 0;
  }
  while (list != NULL) {
    gathered_write_t *next = list->next;
    while (wait_for_room && queue_len >= DELIVER_QUEUE_MAX) pthread_cond_wait(&queue_changed, &queue_mut);
    list->next = NULL;
    if (queue_tail != NULL) queue_tail->next = list;
    else queue_head = list;
    queue_tail = list;
    queue_len++;
    tickets_issued++;
    list = next;
  }
  uint64_t ticket = tickets_issued;
  pthread_cond_broadcast(&queue_changed);
  pthread_mutex_unlock(&queue_mut);
  return ticket;
}

static void wait_delivered (uint64_t ticket) {
  pthread_mutex_lock(&queue_mut);
  while (tickets_done < ticket) pthread_cond_wait(&queue_changed, &queue_mut);
  pthread_mutex_unlock(&queue_mut);
}

// Delivers the taken buffers (and everything queued before them) before returning. The error of
// a buffer of report_fh is returned (0 if none); other handles' errors wait for their handle.
static int deliver_now (gathered_write_t *taken, uint64_t report_fh) {
  uint64_t ticket = queue_for_delivery(taken, 0);
  if (ticket == 0) {
    int report = 0;
    pthread_mutex_lock(&deliver_mut);
    deliver_list(taken, report_fh, report_fh != 0 ? &report : NULL);
    pthread_mutex_unlock(&deliver_mut);
    if (report != 0) return report;
  } else {
    wait_delivered(ticket);
  }
  return report_fh != 0 ? take_deferred_error(report_fh) : 0;
}

static void gather_barrier (uint32_t op) {
  if (op == op_write || op == op_init) return;
  if (__atomic_load_n(&gathered_live, __ATOMIC_SEQ_CST) == 0) return;
  deliver_now(take_gathered(1, 0, NULL), 0);
}

static int fuse_native_write_gathering (const char *path, const char *buf, size_t len, off_t offset, struct fuse_file_info *info) {
  if (gathering_off < 0) {
    const char *v = getenv("QSFS_FUSE_GATHER");
    gathering_off = v != NULL && strcmp(v, "0") == 0;
  }
  uint64_t fh = info != NULL ? info->fh : 0;
  // A file removed while open has no path (see FUSE_NATIVE_HANDLER): its handle names it.
  char fh_path[FH_PATH_SIZE];
  if (path == NULL) path = handle_path(fh_path, info);
  int deferred = take_deferred_error(fh);
  if (deferred != 0) return deferred;
  if (!gathering_off && len <= GATHER_SMALL && info != NULL) {
    int other_handles = 0;
    int fills_mine = 0;
    pthread_mutex_lock(&gather_mut);
    gathered_write_t *mine = NULL;
    for (gathered_write_t *g = gathered; g != NULL; g = g->next) {
      if (g->fh == fh) mine = g;
      else if (strcmp(g->path, path) == 0) other_handles = 1;
    }
    if (mine != NULL && !other_handles && offset == mine->offset + (off_t) mine->len && mine->len + len <= GATHER_MAX) {
      if (mine->len + len > mine->cap) {
        size_t cap = mine->cap;
        while (cap < mine->len + len) cap *= 2;
        if (cap > GATHER_MAX) cap = GATHER_MAX;
        char *data = realloc(mine->data, cap);
        if (data == NULL) { pthread_mutex_unlock(&gather_mut); goto direct; }
        mine->data = data;
        mine->cap = cap;
      }
      memcpy(mine->data + mine->len, buf, len);
      mine->len += len;
      pthread_mutex_unlock(&gather_mut);
      return (int) len;
    }
    fills_mine = mine != NULL && !other_handles && offset == mine->offset + (off_t) mine->len;
    pthread_mutex_unlock(&gather_mut);
    if (fills_mine) {
      // The writes go on in order and the buffer is full: it goes to JS without waiting.
      gathered_write_t *taken = take_gathered(0, fh, path);
      if (queue_for_delivery(taken, 1) == 0) {
        int report = deliver_now(taken, fh);
        if (report != 0) return report;
      }
    } else {
      // Not a continuation: what this handle (and any other handle of the file) gathered goes first.
      int report = deliver_now(take_gathered(0, fh, path), fh);
      if (report != 0) return report;
    }
    // Start gathering anew from this write, if there is room for one more handle.
    gathered_write_t *g = calloc(1, sizeof(gathered_write_t));
    size_t cap = len > GATHER_FIRST ? GATHER_MAX : GATHER_FIRST;
    char *data = g != NULL ? malloc(cap) : NULL;
    char *copy = g != NULL ? strdup(path) : NULL;
    pthread_mutex_lock(&gather_mut);
    if (g != NULL && data != NULL && copy != NULL && gathered_handles < GATHER_HANDLES) {
      g->ft = fuse_get_context() != NULL ? (fuse_thread_t *) fuse_get_context()->private_data : delivering_for;
      g->fh = fh;
      g->path = copy;
      g->offset = offset;
      g->len = len;
      g->cap = cap;
      g->data = data;
      memcpy(g->data, buf, len);
      g->next = gathered;
      gathered = g;
      gathered_handles++;
      __atomic_add_fetch(&gathered_live, 1, __ATOMIC_SEQ_CST);
      pthread_mutex_unlock(&gather_mut);
      return (int) len;
    }
    pthread_mutex_unlock(&gather_mut);
    free(g);
    free(data);
    free(copy);
  }
direct:
  {
    // Large writes go to JS as they are, after what this handle and the file's others gathered.
    int report = deliver_now(take_gathered(0, fh, path), fh);
    if (report != 0) return report;
  }
  return fuse_native_write(path, buf, len, offset, info);
}

// Directories. libfuse 3.14 gives readdirplus attributes only to entries filled with offsets
// (in its whole-list mode it sends every entry without them), so the listing JS answers is kept
// here per open directory and served page by page with offsets, without a trip into JS per
// page. JS answers the whole directory at once: names, and a stat per name, where mode 0 means
// nothing is known and dev == 1 means only the type is known (a d_type for the dirent, no
// attributes for the kernel to cache).
typedef struct {
  uint32_t count;
  char **names;
  struct stat *stats;
  uint8_t *known; // 0: nothing, 1: the type, 2: every attribute
  int filled;
} dir_snapshot_t;

static void dir_snapshot_clear (dir_snapshot_t *d) {
  for (uint32_t i = 0; i < d->count; i++) free(d->names[i]);
  free(d->names);
  free(d->stats);
  free(d->known);
  d->names = NULL;
  d->stats = NULL;
  d->known = NULL;
  d->count = 0;
  d->filled = 0;
}

static int fuse_native_opendir_snapshot (const char *path, struct fuse_file_info *info) {
  dir_snapshot_t *d = calloc(1, sizeof(dir_snapshot_t));
  if (d == NULL) return -ENOMEM;
  info->fh = (uint64_t) (uintptr_t) d;
  return 0;
}

static int fuse_native_releasedir_snapshot (const char *path, struct fuse_file_info *info) {
  dir_snapshot_t *d = (dir_snapshot_t *) (uintptr_t) info->fh;
  if (d != NULL) {
    dir_snapshot_clear(d);
    free(d);
    info->fh = 0;
  }
  return 0;
}

static void fuse_native_dispatch_readdir (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {
  uint32_t op = op_readdir;
  publish_caller(l);
  FUSE_NATIVE_CALLBACK(ft->handlers[op], {
    napi_value argv[3];
    napi_get_reference_value(env, l->self, &(argv[0]));
    napi_create_uint32(env, l->op, &(argv[1]));
    napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
    NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, 3, argv, NULL)
  })
}

// On the JS thread: the answer goes into the directory's snapshot (l->buf).
NAPI_METHOD(fuse_native_signal_readdir) {
  NAPI_ARGV(4)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);
  NAPI_ARGV_INT32(res, 1);
  dir_snapshot_t *d = (dir_snapshot_t *) l->buf;
  if (res >= 0) {
    uint32_t names_length = 0;
    uint32_t stats_length = 0;
    napi_get_array_length(env, argv[2], &names_length);
    napi_get_array_length(env, argv[3], &stats_length);
    d->names = calloc(names_length > 0 ? names_length : 1, sizeof(char *));
    d->stats = calloc(names_length > 0 ? names_length : 1, sizeof(struct stat));
    d->known = calloc(names_length > 0 ? names_length : 1, 1);
    if (d->names == NULL || d->stats == NULL || d->known == NULL) {
      res = -ENOMEM;
    } else {
      for (uint32_t i = 0; i < names_length; i++) {
        napi_value raw_name;
        napi_get_element(env, argv[2], i, &raw_name);
        size_t len = 0;
        napi_get_value_string_utf8(env, raw_name, NULL, 0, &len);
        char *name = malloc(len + 1);
        if (name == NULL) { res = -ENOMEM; break; }
        napi_get_value_string_utf8(env, raw_name, name, len + 1, &len);
        d->names[d->count] = name;
        if (i < stats_length) {
          napi_value raw_stat;
          napi_get_element(env, argv[3], i, &raw_stat);
          NAPI_BUFFER_CAST(uint32_t*, stats_array, raw_stat);
          populate_stat(stats_array, &d->stats[d->count]);
          mode_t mode = d->stats[d->count].st_mode;
          d->known[d->count] = mode == 0 ? 0 : (d->stats[d->count].st_dev == 1 ? 1 : 2);
        }
        d->count++;
      }
      d->filled = 1;
    }
  }
  l->res = res;
  uv_sem_post(&(l->sem));
  return NULL;
}

static int fuse_native_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t offset, struct fuse_file_info *info, enum fuse_readdir_flags rflags) {
  dir_snapshot_t *d = info != NULL ? (dir_snapshot_t *) (uintptr_t) info->fh : NULL;
  if (d == NULL) return -EIO;
  // Offset 0: the start of a listing (opendir, or rewinddir): ask JS for the names now.
  if (offset == 0 || !d->filled) {
    gather_barrier(op_readdir);
    dir_snapshot_clear(d);
    fuse_thread_locals_t *l = get_thread_locals();
    l->op = op_readdir;
    l->op_fn = fuse_native_dispatch_readdir;
    note_caller(l);
    l->path = path;
    l->buf = d;
    uv_async_send(&(l->async));
    uv_sem_wait(&(l->sem));
    if (l->res < 0) {
      dir_snapshot_clear(d);
      return l->res;
    }
  }
  int plus = (rflags & FUSE_READDIR_PLUS) != 0;
  for (uint32_t i = (uint32_t) offset; i < d->count; i++) {
    uint8_t known = d->known[i];
    struct stat *st = known > 0 ? &d->stats[i] : NULL;
    enum fuse_fill_dir_flags fill = plus && known == 2 ? FUSE_FILL_DIR_PLUS : 0;
    if (filler(buf, d->names[i], st, (off_t) i + 1, fill) != 0) break;
  }
  return 0;
}

FUSE_METHOD(setxattr, 5, 1, (const char *path, const char *name, const char *value, size_t size, int flags), {
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  l->flags = flags;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
  napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
  napi_create_uint32(env, 0, &(argv[5])); // fuse-native's position argument (macOS only)
  napi_create_uint32(env, l->flags, &(argv[6]));
}, {
  assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

static void fuse_native_dispatch_getxattr (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft);

NAPI_METHOD(fuse_native_signal_getxattr) {
  NAPI_ARGV(3)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);
  NAPI_ARGV_INT32(res, 1);
  assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
  l->res = res;
  uv_sem_post(&(l->sem));
  return NULL;
}

static void fuse_native_dispatch_getxattr (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {
  uint32_t op = op_getxattr;
  publish_caller(l);
  FUSE_NATIVE_CALLBACK(ft->handlers[op], {
    napi_value argv[6];
    napi_get_reference_value(env, l->self, &(argv[0]));
    napi_create_uint32(env, l->op, &(argv[1]));
    napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
    napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
    napi_create_external_buffer(env, l->size, (char *) l->value, NULL, NULL, &(argv[4]));
    napi_create_uint32(env, 0, &(argv[5]));
    NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, 6, argv, NULL)
  })
}

// A name outside the stored namespaces (security.*, system.*) is answered here, without a trip
// into JS: "not supported", as setxattr says for them and as a filesystem without ACLs or
// labels does. ls -l, cp and rsync remember that answer per filesystem (coreutils caches
// ENOTSUP per device), so `ls -l` of 10,000 files asks twice instead of 20,000 times.
static int fuse_native_getxattr (const char *path, const char *name, char *value, size_t size) {
  if (!xattr_name_stored(name)) return -EOPNOTSUPP;
  gather_barrier(op_getxattr);
  fuse_thread_locals_t *l = get_thread_locals();
  l->op = op_getxattr;
  l->op_fn = fuse_native_dispatch_getxattr;
  note_caller(l);
  l->path = path;
  l->name = name;
  l->value = value;
  l->size = size;
  uv_async_send(&(l->async));
  uv_sem_wait(&(l->sem));
  return l->res;
}

FUSE_METHOD(listxattr, 2, 1, (const char *path, char *list, size_t size), {
  l->path = path;
  l->list = list;
  l->size = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_external_buffer(env, l->size, l->list, NULL, NULL, &(argv[3]));
}, {
  assert(napi_detach_arraybuffer(env, argv[2]) == napi_ok);
})

FUSE_METHOD_VOID(removexattr, 2, 0, (const char *path, const char *name), {
  l->path = path;
  l->name = name;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->name, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(flush, 2, 0, (const char *path, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
})

FUSE_METHOD_VOID(fsync, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path;
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  FUSE_FH_ARGV(4)
})

FUSE_METHOD_VOID(fsyncdir, 3, 0, (const char *path, int datasync, struct fuse_file_info *info), {
  l->path = path;
  l->mode = datasync;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  FUSE_FH_ARGV(4)
})

FUSE_METHOD_VOID(truncate, 3, 0, (const char *path, off_t size), {
  l->path = path;
  l->offset = size;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 3)
})

FUSE_METHOD_VOID(ftruncate, 4, 0, (const char *path, off_t size, struct fuse_file_info *info), {
  l->path = path;
  l->offset = size;
  l->info = info;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_FH_ARGV(3)
  FUSE_UINT64_TO_INTS_ARGV(l->offset, 4)
})

// A gathered write JS refused is reported here, by the flush of close(2) and by fsync.
static int fuse_native_flush_reporting (const char *path, struct fuse_file_info *info) {
  int res = fuse_native_flush(path, info); // its barrier delivers what the handle gathered
  int deferred = info != NULL ? take_deferred_error(info->fh) : 0;
  return deferred != 0 ? deferred : res;
}

static int fuse_native_fsync_reporting (const char *path, int datasync, struct fuse_file_info *info) {
  int res = fuse_native_fsync(path, datasync, info);
  int deferred = info != NULL ? take_deferred_error(info->fh) : 0;
  return deferred != 0 ? deferred : res;
}

static int fuse_native_release_reporting (const char *path, struct fuse_file_info *info) {
  int res = fuse_native_release(path, info);
  if (info != NULL) take_deferred_error(info->fh); // the handle is gone: so is what it owed
  return res;
}

// libfuse 3 has one truncate, with the file handle when the caller had the file open.
static int fuse_native_truncate_any (const char *path, off_t size, struct fuse_file_info *info) {
  if (info != NULL) return fuse_native_ftruncate(path, size, info);
  return fuse_native_truncate(path, size);
}

FUSE_METHOD(readlink, 1, 1, (const char *path, char *linkname, size_t len), {
  l->path = path;
  l->linkname = linkname;
  l->len = len;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
}, {
  NAPI_ARGV_UTF8(linkname, l->len, 2)
  strncpy(l->linkname, linkname, l->len);
})

FUSE_METHOD_VOID(chown, 3, 0, (const char *path, uid_t uid, gid_t gid, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
  l->uid = uid;
  l->gid = gid;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->uid, &(argv[3]));
  napi_create_uint32(env, l->gid, &(argv[4]));
})

FUSE_METHOD_VOID(chmod, 2, 0, (const char *path, mode_t mode, struct fuse_file_info *info), {
  l->path = path;
  l->info = info;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(mknod, 3, 0, (const char *path, mode_t mode, dev_t dev), {
  l->path = path;
  l->mode = mode;
  l->dev = dev;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
  napi_create_uint32(env, l->dev, &(argv[4]));
})

FUSE_METHOD_VOID(unlink, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

FUSE_METHOD_VOID(rename, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

// renameat2 flags (RENAME_NOREPLACE, RENAME_EXCHANGE) cannot be kept atomically over S3:
// EINVAL, on which mv and friends fall back to a plain rename.
static int fuse_native_rename_flags (const char *path, const char *dest, unsigned int flags) {
  if (flags != 0) return -EINVAL;
  return fuse_native_rename(path, dest);
}

FUSE_METHOD_VOID(link, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(symlink, 2, 0, (const char *path, const char *dest), {
  l->path = path;
  l->dest = dest;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_string_utf8(env, l->dest, NAPI_AUTO_LENGTH, &(argv[3]));
})

FUSE_METHOD_VOID(mkdir, 2, 0, (const char *path, mode_t mode), {
  l->path = path;
  l->mode = mode;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  napi_create_uint32(env, l->mode, &(argv[3]));
})

FUSE_METHOD_VOID(rmdir, 1, 0, (const char *path), {
  l->path = path;
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
})

static void fuse_native_dispatch_init (uv_async_t* handle, fuse_thread_locals_t* l, fuse_thread_t* ft) {
  FUSE_NATIVE_CALLBACK(ft->handlers[op_init], {
    napi_value argv[2];

    napi_get_reference_value(env, l->self, &(argv[0]));
    napi_create_uint32(env, l->op, &(argv[1]));

    NAPI_MAKE_CALLBACK(env, NULL, ctx, callback, 2, argv, NULL);
  })
}

NAPI_METHOD(fuse_native_signal_init) {
  NAPI_ARGV(2)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_locals_t *, l, 0);
  NAPI_ARGV_INT32(res, 1);
  l->res = res;
  uv_sem_post(&(l->sem));
  return NULL;
}

static void * fuse_native_init (struct fuse_conn_info *conn, struct fuse_config *cfg) {
  fuse_thread_t *ft = (fuse_thread_t *) fuse_get_context()->private_data;

  // A file removed while open: libfuse renames it to .fuse_hidden<id> and removes that name at
  // the last release, so that its handles keep a path (the kernel's fstat asks by node, with no
  // handle, and libfuse answers ESTALE for a node without a path). qsfs takes that rename as the
  // unlink (src/fs/filesystem.ts: no copy, nothing in the bucket) and keeps the open state under
  // the hidden name until libfuse removes it.
  cfg->hard_remove = 0;
  cfg->use_ino = 0;
  cfg->nullpath_ok = 0;
  kernel_attr_timeout = cfg->attr_timeout;

  if (ft->conn_opts != NULL) fuse_apply_conn_info_opts(ft->conn_opts, conn);
  // The kernel clears set-user-ID and set-group-ID bits on write, truncate and chown by a user
  // without the right (it sends the mode change): libfuse's default asks the filesystem to.
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // libfuse 3 turns on auto_inval_data, with which the kernel refreshes the attributes before
  // every read(2): with attr_timeout=0 a GETATTR into JS per read (md5sum's 32 KiB reads of
  // 1 GiB: 32,768 of them, and half the speed). The page cache is dropped at each open instead
  // (no keep_cache), as with libfuse 2, which is what docs/consistency.md relies on.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV_V2;
#endif
  // Read-ahead and parallel readers: more requests in flight than the kernel's default 12.
  conn->max_background = env_uint("QSFS_FUSE_MAX_BACKGROUND", 64, 65535);
  conn->congestion_threshold = conn->max_background * 3 / 4;

  fuse_thread_locals_t *l = get_thread_locals();

  l->op = op_init;
  l->op_fn = fuse_native_dispatch_init;

  uv_async_send(&(l->async));
  uv_sem_wait(&(l->sem));

  return ft;
}

// Top-level dispatcher

static void fuse_native_dispatch (uv_async_t* handle) {
  fuse_thread_locals_t *l = (fuse_thread_locals_t *) handle->data;
  fuse_thread_t *ft = l->fuse;
  void (*fn)(uv_async_t *, fuse_thread_locals_t *, fuse_thread_t *) = l->op_fn;

  fn(handle, l, ft);
}

static void fuse_native_async_init (uv_async_t* handle) {
  fuse_thread_t *ft = (fuse_thread_t *) handle->data;
  fuse_thread_locals_t *l;

  FUSE_NATIVE_CALLBACK(ft->malloc, {
    napi_value argv[1];
    napi_create_uint32(ft->env, (uint32_t) sizeof(fuse_thread_locals_t), &(argv[0]));

    napi_value buf;
    NAPI_MAKE_CALLBACK(ft->env, NULL, ctx, callback, 1, argv, &buf);

    size_t l_len;

    napi_get_buffer_info(env, buf, (void **) &l, &l_len);
    napi_create_reference(env, buf, 1, &(l->self));
  })


  int err = uv_async_init(uv_default_loop(), &(l->async), (uv_async_cb) fuse_native_dispatch);
  assert(err >= 0);

  uv_unref((uv_handle_t *) &(l->async));

  uv_sem_init(&(l->sem), 0);
  l->async.data = l;
  ft->async.data = l;
  l->fuse = ft;

  uv_sem_post(&(ft->sem));
}

// libfuse ends idle worker threads and starts new ones as requests pile up. Each thread's state
// holds a uv_async handle (which every wakeup of the event loop scans) and a Buffer kept by JS:
// the state of an exited thread goes to a spare list that the next new thread takes from.
#define QSFS_SPARE_LOCALS 1024
static void *spare_locals[QSFS_SPARE_LOCALS];
static int spare_count = 0;
static pthread_mutex_t spare_mut = PTHREAD_MUTEX_INITIALIZER;

static void release_locals (void *data) {
  pthread_mutex_lock(&spare_mut);
  if (spare_count < QSFS_SPARE_LOCALS) spare_locals[spare_count++] = data;
  pthread_mutex_unlock(&spare_mut);
}

static fuse_thread_locals_t* get_thread_locals () {
  struct fuse_context *ctx = fuse_get_context();
  // The deliverer thread is not libfuse's: it says which mount it works for.
  fuse_thread_t *ft = ctx != NULL ? (fuse_thread_t *) ctx->private_data : delivering_for;

  void *data = pthread_getspecific(thread_locals_key);

  if (data != NULL && ((fuse_thread_locals_t *) data)->fuse == ft) {
    return (fuse_thread_locals_t *) data;
  }
  if (data != NULL) {
    // The deliverer, now working for a later mount of this process: its state goes spare.
    release_locals(data);
    pthread_setspecific(thread_locals_key, NULL);
  }

  pthread_mutex_lock(&spare_mut);
  for (int i = spare_count - 1; i >= 0; i--) {
    fuse_thread_locals_t *spare = (fuse_thread_locals_t *) spare_locals[i];
    if (spare->fuse != ft) continue;
    spare_locals[i] = spare_locals[--spare_count];
    pthread_mutex_unlock(&spare_mut);
    pthread_setspecific(thread_locals_key, (void *) spare);
    return spare;
  }
  pthread_mutex_unlock(&spare_mut);

  // Need to lock the mutation of l->async.
  uv_mutex_lock(&(ft->mut));
  ft->async.data = ft;

  // Notify the main thread to uv_async_init l->async.
  uv_async_send(&(ft->async));
  uv_sem_wait(&(ft->sem));

  fuse_thread_locals_t *l = (fuse_thread_locals_t*) ft->async.data;

  pthread_setspecific(thread_locals_key, (void *) l);
  uv_mutex_unlock(&(ft->mut));

  return l;
}

static void* start_fuse_thread (void *data) {
  fuse_thread_t *ft = (fuse_thread_t *) data;
  if (getenv("QSFS_FUSE_SINGLE_THREAD") != NULL) {
    fuse_loop(ft->fuse);
  } else {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    unsigned int max_threads = env_uint("QSFS_FUSE_MAX_THREADS", 64, 100000);
    fuse_loop_cfg_set_max_threads(config, max_threads);
    // Threads beyond this many idle ones end; their state is kept (release_locals).
    fuse_loop_cfg_set_idle_threads(config, max_threads);
    fuse_loop_mt(ft->fuse, config);
    fuse_loop_cfg_destroy(config);
  }

  __atomic_add_fetch(&sessions_ended[0], 1, __ATOMIC_SEQ_CST);
  fuse_unmount(ft->fuse);
  fuse_destroy(ft->fuse);
  free(ft->conn_opts);
  ft->conn_opts = NULL;

  return NULL;
}

// libfuse says why it refuses a mount (an unknown -o option, a mount(2) error) through its log
// function, by default to stderr, which a daemon in the background does not have. While a mount
// is being set up, its messages are also kept here and become the error JS sees.
static char mount_log_text[1024];
static size_t mount_log_length = 0;
static int mount_log_capturing = 0;

static void mount_log_function (enum fuse_log_level level, const char *fmt, va_list ap) {
  if (!mount_log_capturing || level > FUSE_LOG_WARNING) {
    vfprintf(stderr, fmt, ap); // what libfuse's own log function does (-f, -g)
    return;
  }
  // Kept for the error instead of printed: qsfs prints it once, in its own line.
  if (mount_log_length < sizeof(mount_log_text) - 1) {
    int n = vsnprintf(mount_log_text + mount_log_length, sizeof(mount_log_text) - mount_log_length, fmt, ap);
    if (n > 0) {
      mount_log_length += (size_t) n;
      if (mount_log_length > sizeof(mount_log_text) - 1) mount_log_length = sizeof(mount_log_text) - 1;
    }
  }
}

static void mount_log_begin (void) {
  mount_log_length = 0;
  mount_log_text[0] = 0;
  mount_log_capturing = 1;
  fuse_set_log_func(mount_log_function);
}

static void mount_log_end (void) {
  mount_log_capturing = 0;
}

// Throws "<what>: <libfuse's messages on one line>" (or just <what> when it said nothing).
static void mount_log_throw (napi_env env, const char *code, const char *what) {
  mount_log_end();
  char message[1200];
  char said[sizeof(mount_log_text)];
  size_t n = 0;
  for (size_t i = 0; i < mount_log_length && n < sizeof(said) - 1; i++) {
    char c = mount_log_text[i];
    if (c == '\n' || c == '\r') c = ' ';
    if (c == ' ' && (n == 0 || said[n - 1] == ' ')) continue;
    said[n++] = c;
  }
  while (n > 0 && said[n - 1] == ' ') n--;
  said[n] = 0;
  if (n > 0) snprintf(message, sizeof(message), "%s: %s", what, said);
  else snprintf(message, sizeof(message), "%s", what);
  napi_throw_error(env, code, message);
}

NAPI_METHOD(fuse_native_mount) {
  NAPI_ARGV(7)

  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_UTF8(mntopts, 1024, 1);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 2);
  napi_create_reference(env, argv[3], 1, &(ft->ctx));
  napi_create_reference(env, argv[4], 1, &(ft->malloc));
  napi_value handlers = argv[5];
  NAPI_ARGV_BUFFER_CAST(uint32_t *, implemented, 6)

  for (int i = 0; i < 35; i++) {
    ft->handlers[i] = NULL;
  }

  NAPI_FOR_EACH(handlers, handler) {
    napi_create_reference(env, handler, 1, &ft->handlers[i]);
  }

  ft->env = env;
  read_xattr_prefixes();

  struct fuse_operations ops = { };
  if (implemented[op_access]) ops.access = fuse_native_access;
  if (implemented[op_truncate] || implemented[op_ftruncate]) ops.truncate = fuse_native_truncate_any;
  if (implemented[op_getattr]) ops.getattr = fuse_native_getattr;
  if (implemented[op_flush]) ops.flush = fuse_native_flush_reporting;
  if (implemented[op_fsync]) ops.fsync = fuse_native_fsync_reporting;
  if (implemented[op_fsyncdir]) ops.fsyncdir = fuse_native_fsyncdir;
  if (implemented[op_readdir]) ops.readdir = fuse_native_readdir;
  if (implemented[op_readlink]) ops.readlink = fuse_native_readlink;
  if (implemented[op_chown]) ops.chown = fuse_native_chown;
  if (implemented[op_chmod]) ops.chmod = fuse_native_chmod;
  if (implemented[op_mknod]) ops.mknod = fuse_native_mknod;
  if (implemented[op_setxattr]) ops.setxattr = fuse_native_setxattr;
  if (implemented[op_getxattr]) ops.getxattr = fuse_native_getxattr;
  if (implemented[op_listxattr]) ops.listxattr = fuse_native_listxattr;
  if (implemented[op_removexattr]) ops.removexattr = fuse_native_removexattr;
  if (implemented[op_statfs]) ops.statfs = fuse_native_statfs;
  if (implemented[op_open]) ops.open = fuse_native_open_fresh;
  // Open directories hold their listing here (see dir_snapshot_t); JS opendir/releasedir are not used.
  ops.opendir = fuse_native_opendir_snapshot;
  if (implemented[op_read]) ops.read = fuse_native_read;
  if (implemented[op_write]) ops.write = fuse_native_write_gathering;
  if (implemented[op_release]) ops.release = fuse_native_release_reporting;
  ops.releasedir = fuse_native_releasedir_snapshot;
  if (implemented[op_create]) ops.create = fuse_native_create;
  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;
  if (implemented[op_unlink]) ops.unlink = fuse_native_unlink;
  if (implemented[op_rename]) ops.rename = fuse_native_rename_flags;
  if (implemented[op_link]) ops.link = fuse_native_link;
  if (implemented[op_symlink]) ops.symlink = fuse_native_symlink;
  if (implemented[op_mkdir]) ops.mkdir = fuse_native_mkdir;
  if (implemented[op_rmdir]) ops.rmdir = fuse_native_rmdir;
  ops.init = fuse_native_init; // sets libfuse's configuration, then asks JS (if it listens)

  mount_log_begin();
  int _argc = (strcmp(mntopts, "-o") <= 0) ? 1 : 2;
  char *_argv[] = {
    (char *) "qsfs",
    (char *) mntopts
  };

  struct fuse_args args = FUSE_ARGS_INIT(_argc, _argv);
  // Connection options (max_write=, writeback_cache, max_readahead=, ...) are taken out of the
  // arguments here and applied in init; fuse_new rejects what neither it nor this knows.
  ft->conn_opts = fuse_parse_conn_info_opts(&args);
  if (ft->conn_opts == NULL) {
    fuse_opt_free_args(&args);
    mount_log_throw(env, "EINVAL", "libfuse refused the mount options");
    return NULL;
  }

  struct fuse *fuse = fuse_new(&args, &ops, sizeof(struct fuse_operations), ft);
  fuse_opt_free_args(&args);
  if (fuse == NULL) {
    free(ft->conn_opts);
    ft->conn_opts = NULL;
    mount_log_throw(env, "EINVAL", "libfuse refused the mount options");
    return NULL;
  }
  if (fuse_mount(fuse, mnt) != 0) {
    fuse_destroy(fuse);
    free(ft->conn_opts);
    ft->conn_opts = NULL;
    mount_log_throw(env, "EIO", "libfuse could not mount");
    return NULL;
  }
  mount_log_end();

  uv_mutex_init(&(ft->mut));
  uv_sem_init(&(ft->sem), 0);

  strncpy(ft->mnt, mnt, 1024);
  strncpy(ft->mntopts, mntopts, 1024);
  ft->fuse = fuse;
  ft->mounted++;

  int err = uv_async_init(uv_default_loop(), &(ft->async), (uv_async_cb) fuse_native_async_init);

  if (err < 0) {
    // Mounted already: leave nothing behind.
    fuse_unmount(fuse);
    fuse_destroy(fuse);
    ft->fuse = NULL;
    ft->mounted--;
    napi_throw_error(env, "EIO", "cannot start the FUSE loop (uv_async_init failed)");
    return NULL;
  }

  pthread_attr_init(&(ft->attr));
  pthread_create(&(ft->thread), &(ft->attr), start_fuse_thread, ft);

  return NULL;
}

NAPI_METHOD(fuse_native_unmount) {
  NAPI_ARGV(2)
  NAPI_ARGV_UTF8(mnt, 1024, 0);
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 1);

  // The kernel detaches the mount (fusermount -uz, run by fuse-native's JS); the loop thread then
  // ends by itself. Let the event loop end without waiting for this handle.
  uv_unref((uv_handle_t *) &(ft->async));
  ft->mounted--;

  return NULL;
}

// The libfuse this addon runs against: its version as major * 100 + minor (fuse_version()).
NAPI_METHOD(fuse_native_libfuse_version) {
  napi_value out;
  napi_create_uint32(env, (uint32_t) fuse_version(), &out);
  return out;
}

// native/checksums.c: CRC32C and CRC64NVME for --checksum (src/transfer/checksums.ts).
napi_value qsfs_crc32c (napi_env env, napi_callback_info info);
napi_value qsfs_crc64nvme (napi_env env, napi_callback_info info);
napi_value qsfs_crc32c_hardware (napi_env env, napi_callback_info info);

NAPI_INIT() {
  pthread_key_create(&(thread_locals_key), release_locals);

  NAPI_EXPORT_SIZEOF(fuse_thread_t)

  napi_value caller;
  napi_create_external_buffer(env, sizeof(current_caller), (void *) current_caller, NULL, NULL, &caller);
  napi_set_named_property(env, exports, "caller", caller);
  napi_value ended;
  napi_create_external_buffer(env, sizeof(sessions_ended), (void *) sessions_ended, NULL, NULL, &ended);
  napi_set_named_property(env, exports, "sessions_ended", ended);

  NAPI_EXPORT_FUNCTION(fuse_native_mount)
  NAPI_EXPORT_FUNCTION(fuse_native_unmount)
  NAPI_EXPORT_FUNCTION(fuse_native_libfuse_version)
  NAPI_EXPORT_FUNCTION(qsfs_crc32c)
  NAPI_EXPORT_FUNCTION(qsfs_crc64nvme)
  NAPI_EXPORT_FUNCTION(qsfs_crc32c_hardware)

  NAPI_EXPORT_FUNCTION(fuse_native_signal_getattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_init)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_access)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_statfs)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_flush)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsync)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_fsyncdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_truncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_ftruncate)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_utimens)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_readlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chown)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_chmod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mknod)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_setxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_getxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_listxattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_removexattr)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_open)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_opendir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_read)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_write)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_release)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_releasedir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_create)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_unlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rename)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_link)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_symlink)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_mkdir)
  NAPI_EXPORT_FUNCTION(fuse_native_signal_rmdir)

  NAPI_EXPORT_UINT32(op_getattr)
  NAPI_EXPORT_UINT32(op_init)
  NAPI_EXPORT_UINT32(op_error)
  NAPI_EXPORT_UINT32(op_access)
  NAPI_EXPORT_UINT32(op_statfs)
  NAPI_EXPORT_UINT32(op_fgetattr)
  NAPI_EXPORT_UINT32(op_flush)
  NAPI_EXPORT_UINT32(op_fsync)
  NAPI_EXPORT_UINT32(op_fsyncdir)
  NAPI_EXPORT_UINT32(op_readdir)
  NAPI_EXPORT_UINT32(op_truncate)
  NAPI_EXPORT_UINT32(op_ftruncate)
  NAPI_EXPORT_UINT32(op_utimens)
  NAPI_EXPORT_UINT32(op_readlink)
  NAPI_EXPORT_UINT32(op_chown)
  NAPI_EXPORT_UINT32(op_chmod)
  NAPI_EXPORT_UINT32(op_mknod)
  NAPI_EXPORT_UINT32(op_setxattr)
  NAPI_EXPORT_UINT32(op_getxattr)
  NAPI_EXPORT_UINT32(op_listxattr)
  NAPI_EXPORT_UINT32(op_removexattr)
  NAPI_EXPORT_UINT32(op_open)
  NAPI_EXPORT_UINT32(op_opendir)
  NAPI_EXPORT_UINT32(op_read)
  NAPI_EXPORT_UINT32(op_write)
  NAPI_EXPORT_UINT32(op_release)
  NAPI_EXPORT_UINT32(op_releasedir)
  NAPI_EXPORT_UINT32(op_create)
  NAPI_EXPORT_UINT32(op_unlink)
  NAPI_EXPORT_UINT32(op_rename)
  NAPI_EXPORT_UINT32(op_link)
  NAPI_EXPORT_UINT32(op_symlink)
  NAPI_EXPORT_UINT32(op_mkdir)
  NAPI_EXPORT_UINT32(op_rmdir)
}
