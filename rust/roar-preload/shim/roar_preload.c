/*
 * roar's LD_PRELOAD shim: interposes the libc entry points that open,
 * create, rename, link, unlink, truncate, copy and exec files, and appends
 * one binary record per successful access to the job's log
 * ($ROAR_PRELOAD_LOG), which the collector (src/log.rs) turns into events.
 *
 * Rules that keep it invisible to the traced program:
 *  - no allocation, no locks, no stdio: records are built in stack buffers
 *    and written with one write(2) on an O_APPEND fd (atomic per record, so
 *    processes and threads never interleave, and nothing is buffered: an
 *    _exit, a SIGKILL or an exec loses nothing);
 *  - the shim's own file operations are raw syscalls (inline `syscall`
 *    instruction), never libc calls: they are not recorded, cannot recurse
 *    into the hooks and leave errno alone (errno is restored anyway);
 *  - the log fd sits high (near 1000), close-on-exec, and is protected from
 *    close/close_range/closefrom/dup2/dup3 by the program;
 *  - async-signal-safe and vfork-safe: hooks may run in signal handlers and
 *    in vfork children (exec hooks build the new environment on the stack).
 *
 * Record layout (native endianness; the reader runs on the same host):
 *   struct hdr, then nstr strings, each u32 length + bytes (no NUL).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <link.h>
#include <sys/auxv.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define UNUSED __attribute__((unused))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ */
/* Record format (keep in sync with src/log.rs).                        */

#define REC_MAGIC 0x52414f52u /* "ROAR" */

enum {
    R_OPEN = 1,     /* a=flags b=fd c=existed(-1/0/1) d=mtime|NONE e=is_dir; s0=path */
    R_RENAME = 2,   /* a=exchange b=to_existed; s0=from s1=to */
    R_UNLINK = 3,   /* s0=path */
    R_RMDIR = 4,    /* s0=path */
    R_MKDIR = 5,    /* s0=path */
    R_TRUNC = 6,    /* s0=path */
    R_LINK = 7,     /* s0=new name */
    R_SYMLINK = 8,  /* s0=link name */
    R_EXEC = 9,     /* s0=path executed */
    R_COPY = 10,    /* s0=from ("" = not a regular file) s1=to */
    R_START = 11,   /* a=ppid: a fork child */
    R_PEXEC = 12,   /* a=ppid; s0=exe ("" unknown) s1..=argv: a process image started */
    R_EXIT = 13,    /* a=exit code */
    R_BLIND = 14,   /* a=why (BLIND_*) a=ppid in b; s0=path s1..=argv: exec of a binary the shim cannot enter */
    R_EXECFAIL = 15,/* the exec announced by R_BLIND failed */
    R_URING = 16,   /* the process set up an io_uring */
    R_LIBS = 17,    /* s0..: shared objects the loader opened (its names; the collector resolves them) */
};

enum { BLIND_STATIC = 1, BLIND_SETUID = 2, BLIND_SETGID = 3, BLIND_FOREIGN = 4 };

#define MTIME_NONE INT64_MIN

struct hdr {
    uint32_t magic;
    uint32_t len;
    uint16_t type;
    uint16_t nstr;
    int32_t pid;
    int32_t a;
    int32_t b;
    int32_t c;
    int32_t e;
    int64_t d;
};
_Static_assert(sizeof(struct hdr) == 40, "record header layout (src/log.rs)");

/* ------------------------------------------------------------------ */
/* Raw syscalls: no errno, no libc, no interposition.                  */

#if defined(__x86_64__)
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long rsys(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "roar_preload: raw syscalls are implemented for x86_64 and aarch64 only"
#endif

#define S0(n) rsys((n), 0, 0, 0, 0, 0, 0)
#define S1(n, a) rsys((n), (long)(a), 0, 0, 0, 0, 0)
#define S2(n, a, b) rsys((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define S3(n, a, b, c) rsys((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define S4(n, a, b, c, d) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

static int r_openat(int dirfd, const char *p, int flags) {
    return (int)S4(SYS_openat, dirfd, p, flags, 0);
}
static void r_close(int fd) { S1(SYS_close, fd); }
static int r_fstatat(int dirfd, const char *p, struct stat *st, int flags) {
    return (int)S4(SYS_newfstatat, dirfd, p, st, flags);
}
static int r_fstat(int fd, struct stat *st) { return (int)S2(SYS_fstat, fd, st); }
static int r_getpid(void) { return (int)S0(SYS_getpid); }
static int r_getppid(void) { return (int)S0(SYS_getppid); }

/* ------------------------------------------------------------------ */
/* Small string helpers (no libc calls that could be interposed).      */

static size_t slen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

static int starts(const char *s, const char *prefix) {
    while (*prefix)
        if (*s++ != *prefix++) return 0;
    return 1;
}

/* Decimal digits of v (>= 0) at out; returns the count. */
static size_t utoa(unsigned long v, char *out) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

static long atol_s(const char *s, const char **end) {
    long v = 0;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    if (end) *end = s;
    return v;
}

/* ------------------------------------------------------------------ */
/* State.                                                              */

static volatile int g_logfd = -1;
/* O_PATH fd of /proc/<pid>/fd (re-opened after fork): readlinkat on it
 * names an fd with a one-component lookup. */
static volatile int g_procfd = -1;
/* This process's pid (set at start and after fork; a vfork child shares it
 * with its parent, so the exec and exit paths ask the kernel instead). */
static int g_pid;
static int g_active;         /* set once the log is open */
static int g_init;           /* 0: not yet, 1: running, 2: done */
static char g_lib[PATH_MAX];  /* this library's path (ROAR_PRELOAD_LIB) */
static char g_env_log[PATH_MAX + 32];  /* "ROAR_PRELOAD_LOG=..." */
static char g_env_lib[PATH_MAX + 32];  /* "ROAR_PRELOAD_LIB=..." */

#define ENV_LOG "ROAR_PRELOAD_LOG"
#define ENV_LIB "ROAR_PRELOAD_LIB"
#define ENV_EXEC "ROAR_PRELOAD_EXEC"

static void init(void);
static void atfork_child(void);

static inline int active(void) {
    if (UNLIKELY(g_init == 0)) init();
    return g_active;
}

/* Real functions, resolved once (lazily if a hook runs before init). */
static inline void *real_get(void **slot, const char *name) {
    void *f = __atomic_load_n(slot, __ATOMIC_RELAXED);
    if (UNLIKELY(!f)) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(slot, f, __ATOMIC_RELAXED);
    }
    return f;
}
#define REAL(name) ((__typeof__(real_##name))real_get((void **)&real_##name, #name))

/* ------------------------------------------------------------------ */
/* Records.                                                            */

#define REC_MAX (sizeof(struct hdr) + 2 * (PATH_MAX + 4) + 64)

struct rec {
    char *buf;
    size_t cap;
    size_t len;
};

static void rec_begin(struct rec *r, char *buf, size_t cap, int type) {
    struct hdr *h = (struct hdr *)buf;
    r->buf = buf;
    r->cap = cap;
    r->len = sizeof(struct hdr);
    h->magic = REC_MAGIC;
    h->len = 0;
    h->type = (uint16_t)type;
    h->nstr = 0;
    h->pid = g_pid ? g_pid : r_getpid();
    h->a = h->b = h->c = h->e = 0;
    h->d = MTIME_NONE;
}

static struct hdr *rec_hdr(struct rec *r) { return (struct hdr *)r->buf; }

/* Append a string; returns 0 when it does not fit (record unchanged). */
static int rec_str(struct rec *r, const char *s, size_t n) {
    if (r->len + 4 + n > r->cap) return 0;
    uint32_t l = (uint32_t)n;
    memcpy(r->buf + r->len, &l, 4);
    memcpy(r->buf + r->len + 4, s, n);
    r->len += 4 + n;
    rec_hdr(r)->nstr++;
    return 1;
}

static void rec_send(struct rec *r) {
    int fd = g_logfd;
    if (fd < 0) return;
    rec_hdr(r)->len = (uint32_t)r->len;
    long w;
    do {
        w = S3(SYS_write, fd, r->buf, r->len);
    } while (w == -EINTR);
}

static void emit1(int type, const char *s, size_t n) {
    char buf[sizeof(struct hdr) + PATH_MAX + 8];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, type);
    if (rec_str(&r, s, n)) rec_send(&r);
}

/* ------------------------------------------------------------------ */
/* Paths (the same answers the ptrace backend gives, see README.md).    */

/* readlink of /proc/self/<what>: the kernel's name for an fd or the cwd.
 * Returns the length (out is NUL-terminated) or -1 (not a path: pipe,
 * socket, anon inode; or too long). */
static long proc_link(const char *what, char *out, size_t cap) {
    char p[64] = "/proc/self/";
    size_t i = 11;
    for (const char *w = what; *w && i < sizeof p - 1; w++) p[i++] = *w;
    p[i] = 0;
    long n = S4(SYS_readlinkat, AT_FDCWD, p, out, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1 || out[0] != '/') return -1;
    out[n] = 0;
    return n;
}

static int procfd_lazy(void);

/* `slow`: look up /proc/self afresh (exec hooks, which may run in a vfork
 * child whose memory, g_procfd included, is its parent's). */
static long fd_path_x(int fd, char *out, size_t cap, int slow) {
    char what[32] = "fd/";
    size_t n = utoa((unsigned long)fd, what + 3);
    what[3 + n] = 0;
    int pfd = g_procfd;
    if (!slow && pfd < 0) pfd = procfd_lazy();
    if (slow || pfd < 0) return proc_link(what, out, cap);
    long k = S4(SYS_readlinkat, pfd, what + 3, out, cap - 1);
    if (k <= 0 || (size_t)k >= cap - 1 || out[0] != '/') return -1;
    out[k] = 0;
    return k;
}
#define fd_path(fd, out, cap) fd_path_x(fd, out, cap, 0)

static int ends_deleted(const char *p, long n) {
    static const char suf[] = " (deleted)";
    long k = (long)sizeof suf - 1;
    return n >= k && memcmp(p + n - k, suf, (size_t)k) == 0;
}

/* Lexically normalise the absolute path in buf in place (same rules as
 * roar_trace_format::normalize_lexically), returns the new length. */
static size_t normalize(char *buf, size_t n) {
    size_t o = 0; /* output length; output always starts with '/' */
    size_t i = 0;
    while (i < n) {
        while (i < n && buf[i] == '/') i++;
        size_t s = i;
        while (i < n && buf[i] != '/') i++;
        size_t cl = i - s;
        if (cl == 0 || (cl == 1 && buf[s] == '.')) continue;
        if (cl == 2 && buf[s] == '.' && buf[s + 1] == '.') {
            while (o > 0 && buf[o - 1] != '/') o--;
            if (o > 0) o--; /* drop the '/' too */
            continue;
        }
        buf[o++] = '/';
        memmove(buf + o, buf + s, cl);
        o += cl;
    }
    if (o == 0) buf[o++] = '/';
    buf[o] = 0;
    return o;
}

/* /proc/self and /proc/thread-self name the caller: rewrite to its pid. */
static size_t rewrite_proc_self(char *buf, size_t n, size_t cap) {
    const char *pre;
    size_t pl;
    char repl[64];
    size_t rl;
    long tid;
    if (buf[1] != 'p' || !starts(buf, "/proc/")) return n;
    tid = S0(SYS_gettid);
    if (starts(buf, "/proc/self") && (n == 10 || buf[10] == '/')) {
        pre = "/proc/self";
        pl = 10;
        memcpy(repl, "/proc/", 6);
        rl = 6 + utoa((unsigned long)tid, repl + 6);
    } else if (starts(buf, "/proc/thread-self") && (n == 17 || buf[17] == '/')) {
        pre = "/proc/thread-self";
        pl = 17;
        memcpy(repl, "/proc/", 6);
        rl = 6 + utoa((unsigned long)tid, repl + 6);
        memcpy(repl + rl, "/task/", 6);
        rl += 6;
        rl += utoa((unsigned long)tid, repl + rl);
    } else {
        return n;
    }
    (void)pre;
    if (n - pl + rl >= cap) return n;
    memmove(buf + rl, buf + pl, n - pl + 1);
    memcpy(buf, repl, rl);
    return n - pl + rl;
}

/* Absolute, lexically normalised path of (dirfd, path); -1 on failure. */
static long lexical(int dirfd, const char *path, char *out, size_t cap, int slow) {
    size_t pl = slen(path);
    size_t n = 0;
    if (path[0] != '/') {
        long b = dirfd == AT_FDCWD ? proc_link("cwd", out, cap) : fd_path_x(dirfd, out, cap, slow);
        if (b < 0) return -1;
        n = (size_t)b;
        if (pl) {
            if (n + 1 + pl >= cap) return -1;
            out[n++] = '/';
        }
    }
    if (n + pl >= cap) return -1;
    memcpy(out + n, path, pl + 1);
    n += pl;
    n = normalize(out, n);
    return (long)rewrite_proc_self(out, n, cap);
}

/* Canonical path of an existing object (symlinks followed), as the kernel
 * names it: open O_PATH + readlink. */
static long canon_at(int dirfd, const char *path, int extra, char *out, size_t cap, int slow) {
    int fd = r_openat(dirfd, path, O_PATH | O_CLOEXEC | extra);
    if (fd < 0) return -1;
    long n = fd_path_x(fd, out, cap, slow);
    r_close(fd);
    return n;
}

/* The parent of a path whose last '/' is at path[slash] (slash >= 0):
 * its first `slash` bytes, or "/" when that is the root. */
static void copy_parent(char *parent, const char *path, long slash) {
    if (slash == 0) {
        parent[0] = '/';
        parent[1] = 0;
    } else {
        memcpy(parent, path, (size_t)slash);
        parent[slash] = 0;
    }
}

/* Append '/' (unless out[0..c) ends in one) and last[0..ll) to out, NUL
 * terminated: the new length, or -1 if it does not fit in cap. */
static long join_last(char *out, long c, size_t cap, const char *last, size_t ll) {
    if (out[c - 1] != '/') {
        if ((size_t)c + 1 >= cap) return -1;
        out[c++] = '/';
    }
    if ((size_t)c + ll >= cap) return -1;
    memcpy(out + c, last, ll);
    c += (long)ll;
    out[c] = 0;
    return c;
}

/* Name operations: the lexical path with its parent canonicalised, the
 * final component as named (ptrace: resolve::name). */
static long has_slash(const char *p) {
    for (; *p; p++)
        if (*p == '/') return 1;
    return 0;
}

static long name_path(int dirfd, const char *path, char *out, size_t cap, int slow) {
    long n = lexical(dirfd, path, out, cap, slow);
    if (n <= 1) return n;
    /* A single component under the cwd or a dirfd: its parent is what
     * readlink gave, canonical already. */
    if (!has_slash(path) && !(path[0] == '.' && (!path[1] || (path[1] == '.' && !path[2]))))
        return n;
    long slash = n - 1;
    while (slash > 0 && out[slash] != '/') slash--;
    char last[NAME_MAX + 2];
    size_t ll = (size_t)(n - slash - 1);
    if (ll > NAME_MAX) return n;
    memcpy(last, out + slash + 1, ll);
    char parent[PATH_MAX];
    copy_parent(parent, out, slash);
    long c = canon_at(AT_FDCWD, parent, 0, out, cap, slow);
    if (c < 0) {
        /* Parent not resolvable: keep the lexical path. */
        return lexical(dirfd, path, out, cap, slow);
    }
    return join_last(out, c, cap, last, ll);
}

/* Paths followed to the end (truncate, exec): canonical when the file
 * exists, else the name (ptrace: resolve::followed). */
static long followed(int dirfd, const char *path, char *out, size_t cap, int slow) {
    long n = lexical(dirfd, path, out, cap, slow);
    if (n < 0) return -1;
    char lex[PATH_MAX];
    memcpy(lex, out, (size_t)n + 1);
    long c = canon_at(AT_FDCWD, lex, 0, out, cap, slow);
    if (c >= 0) return c;
    return name_path(dirfd, path, out, cap, slow);
}

/* Where a successful unlink/rmdir acted: the parent as the kernel resolved
 * it (canonical) + the final component as named (ptrace: resolve::removal). */
static long removal_path(int dirfd, const char *path, char *out, size_t cap) {
    size_t n = slen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n == 0 || n >= PATH_MAX) return -1;
    long slash = (long)n - 1;
    while (slash >= 0 && path[slash] != '/') slash--;
    char parent[PATH_MAX];
    const char *last = path + slash + 1;
    size_t ll = n - (size_t)(slash + 1);
    if (slash < 0) {
        parent[0] = '.';
        parent[1] = 0;
    } else {
        copy_parent(parent, path, slash);
    }
    long c;
    if (slash < 0) /* the cwd or the dirfd itself */
        c = dirfd == AT_FDCWD ? proc_link("cwd", out, cap) : fd_path(dirfd, out, cap);
    else
        c = canon_at(dirfd, parent, O_DIRECTORY, out, cap, 0);
    if (c < 0) return name_path(dirfd, path, out, cap, 0);
    return join_last(out, c, cap, last, ll);
}

/* ------------------------------------------------------------------ */
/* Opens.                                                              */

struct pre {
    int existed; /* -1 unknown */
    int64_t mtime;
};

static inline int open_writes(int flags) {
    return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC));
}

/* Before a writable open: does the path exist, and its mtime. */
static void open_pre(int dirfd, const char *path, int flags, struct pre *p) {
    p->existed = -1;
    p->mtime = MTIME_NONE;
    if (!open_writes(flags) || (flags & O_PATH) || (flags & O_TMPFILE) == O_TMPFILE) return;
    struct stat st;
    if (r_fstatat(dirfd, path, &st, 0) == 0) {
        p->existed = 1;
        p->mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    } else {
        p->existed = 0;
    }
}

/* After a successful open: record what the kernel opened. */
static void check_libs(void);
static unsigned g_opens;
static void open_post(int fd, int dirfd, const char *path, int flags, const struct pre *p) {
    if (fd < 0 || (flags & O_PATH) || (flags & O_TMPFILE) == O_TMPFILE) return;
    /* Every 8th open (and at exit): dl_iterate_phdr takes the loader's
     * lock, which threads opening files in parallel would contend for. */
    if ((__atomic_fetch_add(&g_opens, 1, __ATOMIC_RELAXED) & 7) == 0) check_libs();
    char buf[sizeof(struct hdr) + 4 + PATH_MAX];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_OPEN);
    char *dst = buf + sizeof(struct hdr) + 4;
    long n = fd_path(fd, dst, PATH_MAX);
    if (n < 0) return; /* a pipe, socket, anon inode */
    if (ends_deleted(dst, n)) {
        if (!path) return;
        n = lexical(dirfd, path, dst, PATH_MAX, 0);
        if (n < 0) return;
    }
    struct hdr *h = rec_hdr(&r);
    h->a = flags;
    h->b = fd;
    h->c = p ? p->existed : -1;
    h->d = p ? p->mtime : MTIME_NONE;
    if (flags & O_DIRECTORY) {
        h->e = 1;
    } else if ((flags & O_ACCMODE) == O_RDONLY) {
        struct stat st;
        h->e = r_fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    }
    uint32_t l = (uint32_t)n;
    memcpy(buf + sizeof(struct hdr), &l, 4);
    r.len = sizeof(struct hdr) + 4 + (size_t)n;
    h->nstr = 1;
    rec_send(&r);
}

static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);

#define HAS_MODE(f) (((f) & O_CREAT) || ((f) & O_TMPFILE) == O_TMPFILE)

/* In a variadic open-like hook: `mode_t MODE`, the optional argument after
 * FLAGS (0 unless FLAGS create a file). */
#define VA_MODE(MODE, FLAGS)                \
    mode_t MODE = 0;                        \
    if (HAS_MODE(FLAGS)) {                  \
        va_list ap_;                        \
        va_start(ap_, FLAGS);               \
        MODE = (mode_t)va_arg(ap_, int);    \
        va_end(ap_);                        \
    }

/* An O_CREAT open without O_EXCL is first tried with O_EXCL: when that
 * succeeds the file did not exist (no stat needed: outputs are mostly new
 * files); when it fails (EEXIST…) the path is stat'ed and the open made
 * as asked. CALL must pass `flags`. */
static inline int excl_first(int flags) {
    return (flags & O_CREAT) && !(flags & O_EXCL) && (flags & O_TMPFILE) != O_TMPFILE &&
           !(flags & O_PATH);
}

#define OPEN_BODY(DIRFD, CALL)                         \
    if (!active()) return CALL;                        \
    struct pre pr;                                     \
    int fd;                                            \
    if (excl_first(flags)) {                           \
        int oflags_ = flags, errno_ = errno;           \
        flags |= O_EXCL;                               \
        fd = CALL;                                     \
        flags = oflags_;                               \
        if (fd >= 0) {                                 \
            pr.existed = 0;                            \
            pr.mtime = MTIME_NONE;                     \
        } else {                                       \
            errno = errno_;                            \
            open_pre(DIRFD, path, flags, &pr);         \
            fd = CALL;                                 \
        }                                              \
    } else {                                           \
        open_pre(DIRFD, path, flags, &pr);             \
        fd = CALL;                                     \
    }                                                  \
    if (fd >= 0) {                                     \
        int saved = errno;                             \
        open_post(fd, DIRFD, path, flags, &pr);        \
        errno = saved;                                 \
    }                                                  \
    return fd;

EXPORT int open(const char *path, int flags, ...) {
    VA_MODE(mode, flags);
    OPEN_BODY(AT_FDCWD, REAL(open)(path, flags, mode))
}

EXPORT int open64(const char *path, int flags, ...) {
    VA_MODE(mode, flags);
    OPEN_BODY(AT_FDCWD, REAL(open64)(path, flags, mode))
}

EXPORT int openat(int dirfd, const char *path, int flags, ...) {
    VA_MODE(mode, flags);
    OPEN_BODY(dirfd, REAL(openat)(dirfd, path, flags, mode))
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
    VA_MODE(mode, flags);
    OPEN_BODY(dirfd, REAL(openat64)(dirfd, path, flags, mode))
}

EXPORT int __open_2(const char *path, int flags) { OPEN_BODY(AT_FDCWD, REAL(__open_2)(path, flags)) }
EXPORT int __open64_2(const char *path, int flags) { OPEN_BODY(AT_FDCWD, REAL(__open64_2)(path, flags)) }
EXPORT int __openat_2(int dirfd, const char *path, int flags) {
    OPEN_BODY(dirfd, REAL(__openat_2)(dirfd, path, flags))
}
EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
    OPEN_BODY(dirfd, REAL(__openat64_2)(dirfd, path, flags))
}

/* creat is open(O_CREAT|O_WRONLY|O_TRUNC). */
EXPORT int creat(const char *path, mode_t mode) {
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    if (!active()) return REAL(creat)(path, mode);
    OPEN_BODY(AT_FDCWD, REAL(open)(path, flags, mode))
}
EXPORT int creat64(const char *path, mode_t mode) {
    int flags = O_CREAT | O_WRONLY | O_TRUNC;
    if (!active()) return REAL(creat64)(path, mode);
    OPEN_BODY(AT_FDCWD, REAL(open64)(path, flags, mode))
}

/* mkstemp and friends open internally (not interposable): record the
 * create of the name they return. */
static void tmp_post(int fd, int extra) {
    struct pre pr = {0, MTIME_NONE};
    open_post(fd, AT_FDCWD, NULL, O_RDWR | O_CREAT | O_EXCL | extra, &pr);
}
static int (*real_mkstemp)(char *);
static int (*real_mkstemp64)(char *);
static int (*real_mkostemp)(char *, int);
static int (*real_mkostemp64)(char *, int);
static int (*real_mkstemps)(char *, int);
static int (*real_mkstemps64)(char *, int);
static int (*real_mkostemps)(char *, int, int);
static int (*real_mkostemps64)(char *, int, int);
#define TMP_BODY(CALL, EXTRA)        \
    int fd = CALL;                   \
    if (fd >= 0 && active()) {       \
        int saved = errno;           \
        tmp_post(fd, EXTRA);         \
        errno = saved;               \
    }                                \
    return fd;
EXPORT int mkstemp(char *t) { TMP_BODY(REAL(mkstemp)(t), 0) }
EXPORT int mkstemp64(char *t) { TMP_BODY(REAL(mkstemp64)(t), 0) }
EXPORT int mkostemp(char *t, int f) { TMP_BODY(REAL(mkostemp)(t, f), f) }
EXPORT int mkostemp64(char *t, int f) { TMP_BODY(REAL(mkostemp64)(t, f), f) }
EXPORT int mkstemps(char *t, int s) { TMP_BODY(REAL(mkstemps)(t, s), 0) }
EXPORT int mkstemps64(char *t, int s) { TMP_BODY(REAL(mkstemps64)(t, s), 0) }
EXPORT int mkostemps(char *t, int s, int f) { TMP_BODY(REAL(mkostemps)(t, s, f), f) }
EXPORT int mkostemps64(char *t, int s, int f) { TMP_BODY(REAL(mkostemps64)(t, s, f), f) }

/* fopen's mode string as open flags. */
static int fmode_flags(const char *m) {
    int f;
    switch (*m) {
    case 'r': f = O_RDONLY; break;
    case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return O_RDONLY;
    }
    for (const char *c = m + 1; *c && *c != ','; c++) {
        if (*c == '+') f = (f & ~O_ACCMODE) | O_RDWR;
        else if (*c == 'x') f |= O_EXCL;
        else if (*c == 'e') f |= O_CLOEXEC;
    }
    return f;
}

static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static FILE *(*real_freopen)(const char *, const char *, FILE *);
static FILE *(*real_freopen64)(const char *, const char *, FILE *);

#define FOPEN_BODY(CALL)                                    \
    if (!active() || !path || !mode) return CALL;           \
    int flags = fmode_flags(mode);                          \
    struct pre pr;                                          \
    open_pre(AT_FDCWD, path, flags, &pr);                   \
    FILE *f = CALL;                                         \
    if (f) {                                                \
        int saved = errno;                                  \
        open_post(fileno(f), AT_FDCWD, path, flags, &pr);   \
        errno = saved;                                      \
    }                                                       \
    return f;

EXPORT FILE *fopen(const char *path, const char *mode) { FOPEN_BODY(REAL(fopen)(path, mode)) }
EXPORT FILE *fopen64(const char *path, const char *mode) { FOPEN_BODY(REAL(fopen64)(path, mode)) }
EXPORT FILE *freopen(const char *path, const char *mode, FILE *s) {
    FOPEN_BODY(REAL(freopen)(path, mode, s))
}
EXPORT FILE *freopen64(const char *path, const char *mode, FILE *s) {
    FOPEN_BODY(REAL(freopen64)(path, mode, s))
}

/* Directory listings. opendir opens internally; scandir too. */
static DIR *(*real_opendir)(const char *);
EXPORT DIR *opendir(const char *path) {
    DIR *d = REAL(opendir)(path);
    if (d && active()) {
        int saved = errno;
        open_post(dirfd(d), AT_FDCWD, path, O_RDONLY | O_DIRECTORY, NULL);
        errno = saved;
    }
    return d;
}

static void dir_listed(int dirfd, const char *path) {
    int fd = r_openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    open_post(fd, dirfd, path, O_RDONLY | O_DIRECTORY, NULL);
    r_close(fd);
}

typedef int (*scan_filter)(const struct dirent *);
typedef int (*scan_cmp)(const struct dirent **, const struct dirent **);
typedef int (*scan_filter64)(const struct dirent64 *);
typedef int (*scan_cmp64)(const struct dirent64 **, const struct dirent64 **);
static int (*real_scandir)(const char *, struct dirent ***, scan_filter, scan_cmp);
static int (*real_scandir64)(const char *, struct dirent64 ***, scan_filter64, scan_cmp64);
static int (*real_scandirat)(int, const char *, struct dirent ***, scan_filter, scan_cmp);
static int (*real_scandirat64)(int, const char *, struct dirent64 ***, scan_filter64, scan_cmp64);

#define SCAN_BODY(DIRFD, CALL)          \
    int n = CALL;                       \
    if (n >= 0 && active()) {           \
        int saved = errno;              \
        dir_listed(DIRFD, path);        \
        errno = saved;                  \
    }                                   \
    return n;
EXPORT int scandir(const char *path, struct dirent ***nl, scan_filter f, scan_cmp c) {
    SCAN_BODY(AT_FDCWD, REAL(scandir)(path, nl, f, c))
}
EXPORT int scandir64(const char *path, struct dirent64 ***nl, scan_filter64 f, scan_cmp64 c) {
    SCAN_BODY(AT_FDCWD, REAL(scandir64)(path, nl, f, c))
}
EXPORT int scandirat(int dfd, const char *path, struct dirent ***nl, scan_filter f, scan_cmp c) {
    SCAN_BODY(dfd, REAL(scandirat)(dfd, path, nl, f, c))
}
EXPORT int scandirat64(int dfd, const char *path, struct dirent64 ***nl, scan_filter64 f,
                       scan_cmp64 c) {
    SCAN_BODY(dfd, REAL(scandirat64)(dfd, path, nl, f, c))
}

/* ------------------------------------------------------------------ */
/* Name operations.                                                     */

static void emit_named(int type, int dirfd, const char *path) {
    char p[PATH_MAX];
    long n = name_path(dirfd, path, p, sizeof p, 0);
    if (n > 0) emit1(type, p, (size_t)n);
}

static void emit_removal(int rmdir, int dirfd, const char *path) {
    char p[PATH_MAX];
    long n = removal_path(dirfd, path, p, sizeof p);
    if (n > 0) emit1(rmdir ? R_RMDIR : R_UNLINK, p, (size_t)n);
}

static void rename_record(int od, const char *o, int nd, const char *n, unsigned flags,
                          int (*call)(void *), void *ctx, int *ret) {
    char from[PATH_MAX], to[PATH_MAX];
    long fl = name_path(od, o, from, sizeof from, 0);
    long tl = name_path(nd, n, to, sizeof to, 0);
    struct stat st;
    int to_existed = r_fstatat(nd, n, &st, AT_SYMLINK_NOFOLLOW) == 0;
    *ret = call(ctx);
    if (*ret != 0 || fl <= 0 || tl <= 0) return;
    int saved = errno;
    char buf[REC_MAX];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_RENAME);
    rec_hdr(&r)->a = (flags & RENAME_EXCHANGE) != 0;
    rec_hdr(&r)->b = to_existed;
    if (rec_str(&r, from, (size_t)fl) && rec_str(&r, to, (size_t)tl)) rec_send(&r);
    errno = saved;
}

struct rn_ctx {
    int od, nd;
    const char *o, *n;
    unsigned flags;
    int kind;
};
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned);
static int rn_call(void *p) {
    struct rn_ctx *c = p;
    switch (c->kind) {
    case 0: return REAL(rename)(c->o, c->n);
    case 1: return REAL(renameat)(c->od, c->o, c->nd, c->n);
    default: return REAL(renameat2)(c->od, c->o, c->nd, c->n, c->flags);
    }
}
static int do_rename(int od, const char *o, int nd, const char *n, unsigned flags, int kind) {
    struct rn_ctx c = {od, nd, o, n, flags, kind};
    if (!active()) return rn_call(&c);
    int ret;
    rename_record(od, o, nd, n, flags, rn_call, &c, &ret);
    return ret;
}
EXPORT int rename(const char *o, const char *n) { return do_rename(AT_FDCWD, o, AT_FDCWD, n, 0, 0); }
EXPORT int renameat(int od, const char *o, int nd, const char *n) {
    return do_rename(od, o, nd, n, 0, 1);
}
EXPORT int renameat2(int od, const char *o, int nd, const char *n, unsigned flags) {
    return do_rename(od, o, nd, n, flags, 2);
}

#define AFTER_OK(CALL, WORK)             \
    int ret = CALL;                      \
    if (ret == 0 && active()) {          \
        int saved = errno;               \
        WORK;                            \
        errno = saved;                   \
    }                                    \
    return ret;

static int (*real_link)(const char *, const char *);
static int (*real_linkat)(int, const char *, int, const char *, int);
static int (*real_symlink)(const char *, const char *);
static int (*real_symlinkat)(const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_rmdir)(const char *);
static int (*real_remove)(const char *);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_mkdirat)(int, const char *, mode_t);

EXPORT int link(const char *o, const char *n) {
    AFTER_OK(REAL(link)(o, n), emit_named(R_LINK, AT_FDCWD, n))
}
EXPORT int linkat(int od, const char *o, int nd, const char *n, int flags) {
    AFTER_OK(REAL(linkat)(od, o, nd, n, flags), emit_named(R_LINK, nd, n))
}
EXPORT int symlink(const char *t, const char *n) {
    AFTER_OK(REAL(symlink)(t, n), emit_named(R_SYMLINK, AT_FDCWD, n))
}
EXPORT int symlinkat(const char *t, int nd, const char *n) {
    AFTER_OK(REAL(symlinkat)(t, nd, n), emit_named(R_SYMLINK, nd, n))
}
EXPORT int unlink(const char *p) { AFTER_OK(REAL(unlink)(p), emit_removal(0, AT_FDCWD, p)) }
EXPORT int unlinkat(int d, const char *p, int flags) {
    AFTER_OK(REAL(unlinkat)(d, p, flags), emit_removal((flags & AT_REMOVEDIR) != 0, d, p))
}
EXPORT int rmdir(const char *p) { AFTER_OK(REAL(rmdir)(p), emit_removal(1, AT_FDCWD, p)) }
EXPORT int remove(const char *p) {
    if (!active()) return REAL(remove)(p);
    struct stat st;
    int is_dir = r_fstatat(AT_FDCWD, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    AFTER_OK(REAL(remove)(p), emit_removal(is_dir, AT_FDCWD, p))
}
EXPORT int mkdir(const char *p, mode_t m) {
    AFTER_OK(REAL(mkdir)(p, m), emit_named(R_MKDIR, AT_FDCWD, p))
}
EXPORT int mkdirat(int d, const char *p, mode_t m) {
    AFTER_OK(REAL(mkdirat)(d, p, m), emit_named(R_MKDIR, d, p))
}

/* ------------------------------------------------------------------ */
/* Truncate and copies.                                                 */

static void emit_followed(int type, int dirfd, const char *path) {
    char p[PATH_MAX];
    long n = followed(dirfd, path, p, sizeof p, 0);
    if (n > 0) emit1(type, p, (size_t)n);
}

static void emit_fd(int type, int fd) {
    char p[PATH_MAX];
    long n = fd_path(fd, p, sizeof p);
    if (n > 0) emit1(type, p, (size_t)n);
}

static int (*real_truncate)(const char *, off_t);
static int (*real_truncate64)(const char *, off64_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);
EXPORT int truncate(const char *p, off_t len) {
    AFTER_OK(REAL(truncate)(p, len), emit_followed(R_TRUNC, AT_FDCWD, p))
}
EXPORT int truncate64(const char *p, off64_t len) {
    AFTER_OK(REAL(truncate64)(p, len), emit_followed(R_TRUNC, AT_FDCWD, p))
}
EXPORT int ftruncate(int fd, off_t len) { AFTER_OK(REAL(ftruncate)(fd, len), emit_fd(R_TRUNC, fd)) }
EXPORT int ftruncate64(int fd, off64_t len) {
    AFTER_OK(REAL(ftruncate64)(fd, len), emit_fd(R_TRUNC, fd))
}

/* copy_file_range/sendfile between regular files: source read, destination
 * written. */
static void copy_record(int in, int out) {
    char buf[REC_MAX];
    char a[PATH_MAX], b[PATH_MAX];
    struct stat st;
    long an = -1, bn = -1;
    if (r_fstat(in, &st) == 0 && S_ISREG(st.st_mode)) an = fd_path(in, a, sizeof a);
    if (r_fstat(out, &st) == 0 && S_ISREG(st.st_mode)) bn = fd_path(out, b, sizeof b);
    if (an < 0 && bn < 0) return;
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_COPY);
    if (rec_str(&r, a, an < 0 ? 0 : (size_t)an) && rec_str(&r, b, bn < 0 ? 0 : (size_t)bn))
        rec_send(&r);
}

static ssize_t (*real_copy_file_range)(int, loff_t *, int, loff_t *, size_t, unsigned);
static ssize_t (*real_sendfile)(int, int, off_t *, size_t);
static ssize_t (*real_sendfile64)(int, int, off64_t *, size_t);
#define COPY_BODY(CALL, IN, OUT)        \
    ssize_t ret = CALL;                 \
    if (ret >= 0 && active()) {         \
        int saved = errno;              \
        copy_record(IN, OUT);           \
        errno = saved;                  \
    }                                   \
    return ret;
EXPORT ssize_t copy_file_range(int in, loff_t *oi, int out, loff_t *oo, size_t len, unsigned fl) {
    COPY_BODY(REAL(copy_file_range)(in, oi, out, oo, len, fl), in, out)
}
EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n) {
    COPY_BODY(REAL(sendfile)(out, in, off, n), in, out)
}
EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n) {
    COPY_BODY(REAL(sendfile64)(out, in, off, n), in, out)
}

/* ------------------------------------------------------------------ */
/* Keeping the log fd: the program may close every fd or dup2 onto ours. */

static int (*real_close)(int);
static int (*real_close_range)(unsigned, unsigned, int);
static void (*real_closefrom)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

static int g_fd_base;
static int log_fd_base(void) {
    if (g_fd_base) return g_fd_base;
    struct rlimit rl;
    long lim = 1024;
    if (S4(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        lim = (long)rl.rlim_cur;
    if (lim > 1024) lim = 1024;
    long base = lim - 24;
    g_fd_base = base < 3 ? 3 : (int)base;
    return g_fd_base;
}

static inline int is_ours(int fd) { return fd >= 0 && (fd == g_logfd || fd == g_procfd); }

/* Move our fd out of the way of `target` (dup2/dup3 onto it). */
static void own_fd_move(int target) {
    volatile int *slot = target == g_logfd ? &g_logfd : &g_procfd;
    int fd = *slot;
    if (fd < 0 || fd != target) return;
    int nfd = (int)S3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
    if (nfd < 0) nfd = (int)S3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
    *slot = nfd < 0 ? -1 : nfd;
    /* The old number is closed by the dup2 that follows. */
}

EXPORT int close(int fd) {
    if (UNLIKELY(is_ours(fd))) return 0; /* keep it; it is close-on-exec */
    return REAL(close)(fd);
}

/* close_range around our fds. */
static int close_range_skip(unsigned first, unsigned last, int flags) {
    int a = g_logfd, b = g_procfd;
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    int skip[2] = {a, b};
    unsigned lo = first;
    int r = 0;
    for (int i = 0; i < 2 && r == 0; i++) {
        int fd = skip[i];
        if (fd < 0 || (unsigned)fd < lo || (unsigned)fd > last) continue;
        if ((unsigned)fd > lo) r = REAL(close_range)(lo, (unsigned)fd - 1, flags);
        if ((unsigned)fd == last) return r;
        lo = (unsigned)fd + 1;
    }
    if (r == 0) r = REAL(close_range)(lo, last, flags);
    return r;
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
    if (first > last || (flags & CLOSE_RANGE_CLOEXEC)) return REAL(close_range)(first, last, flags);
    return close_range_skip(first, last, flags);
}

EXPORT void closefrom(int low) {
    int hi = g_logfd > g_procfd ? g_logfd : g_procfd;
    if (hi < 0 || hi < low) {
        REAL(closefrom)(low);
        return;
    }
    if (low < 0) low = 0;
    close_range_skip((unsigned)low, (unsigned)hi, 0);
    REAL(closefrom)(hi + 1);
}

EXPORT int dup2(int o, int n) {
    if (UNLIKELY(is_ours(n) && o != n)) own_fd_move(n);
    return REAL(dup2)(o, n);
}

EXPORT int dup3(int o, int n, int flags) {
    if (UNLIKELY(is_ours(n) && o != n)) own_fd_move(n);
    return REAL(dup3)(o, n, flags);
}

/* ------------------------------------------------------------------ */
/* Exec: blind spots, the exec'd path, and the environment kept intact. */

/* Why the shim cannot enter the file open at `fd` (0: it can), by its
 * mode and ELF header (or the interpreter of a #! script). */
static int blind_kind_path(const char *path, int depth);
static int blind_kind_fd(int fd, const char *path, int depth) {
    struct stat st;
    if (r_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (depth == 0 && (st.st_mode & (S_ISUID | S_ISGID))) {
        struct statfs sf;
        int nosuid = S2(SYS_fstatfs, fd, &sf) == 0 && (sf.f_flags & ST_NOSUID);
        if (!nosuid && (st.st_mode & S_ISUID) && st.st_uid != (uid_t)S0(SYS_getuid)) return BLIND_SETUID;
        if (!nosuid && (st.st_mode & S_ISGID) && st.st_gid != (gid_t)S0(SYS_getgid)) return BLIND_SETGID;
    }
    /* One read covers the ELF header and, usually, the program headers. */
    union {
        unsigned char b[1024];
        Elf64_Ehdr eh;
    } hb;
    unsigned char *h = hb.b;
    long n = S4(SYS_pread64, fd, h, sizeof hb, 0);
    if (n >= 4 && h[0] == '#' && h[1] == '!') {
        /* A script: what matters is its interpreter. */
        if (depth >= 2) return 0;
        char interp[256];
        long i = 2, o = 0;
        while (i < n && (h[i] == ' ' || h[i] == '\t')) i++;
        while (i < n && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && o < 255) interp[o++] = (char)h[i++];
        interp[o] = 0;
        return o > 0 && interp[0] == '/' ? blind_kind_path(interp, depth + 1) : 0;
    }
    if (n < (long)sizeof(Elf64_Ehdr) || memcmp(h, ELFMAG, SELFMAG) != 0) return 0;
#if defined(__x86_64__)
    const int my_machine = EM_X86_64;
#else
    const int my_machine = EM_AARCH64;
#endif
    Elf64_Ehdr *eh = &hb.eh;
    if (h[EI_CLASS] != ELFCLASS64 || eh->e_machine != my_machine) return BLIND_FOREIGN;
    if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > 64) return 0;
    Elf64_Phdr phbuf[64];
    const Elf64_Phdr *ph = phbuf;
    size_t want = (size_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff + want <= (size_t)n && eh->e_phoff % 8 == 0)
        ph = (const Elf64_Phdr *)(h + eh->e_phoff);
    else if (S4(SYS_pread64, fd, phbuf, want, eh->e_phoff) != (long)want)
        return 0;
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_INTERP) return 0;
    /* The dynamic loader itself (ld.so run as a program) preloads fine. */
    const char *base = path;
    for (const char *c = path; *c; c++)
        if (*c == '/') base = c + 1;
    if (eh->e_type == ET_DYN &&
        (starts(base, "ld-linux") || starts(base, "ld.so") || starts(base, "ld64.so")))
        return 0;
    return BLIND_STATIC;
}

#define EXEC_OPEN (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

static int blind_kind_path(const char *path, int depth) {
    int fd = r_openat(AT_FDCWD, path, EXEC_OPEN);
    if (fd < 0) return 0;
    int k = blind_kind_fd(fd, path, depth);
    r_close(fd);
    return k;
}

/* Record an exec the new image cannot report itself (it will not load
 * the shim): its path, argv and the warning. */
static void emit_blind(int kind, const char *path, size_t pl, char *const argv[]) {
    char buf[16384];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_BLIND);
    rec_hdr(&r)->pid = r_getpid();
    rec_hdr(&r)->a = kind;
    rec_hdr(&r)->b = r_getppid();
    if (!rec_str(&r, path, pl)) return;
    for (int i = 0; argv && argv[i]; i++)
        if (!rec_str(&r, argv[i], slen(argv[i]))) break;
    rec_send(&r);
}

static void emit_execfail(void) {
    char buf[sizeof(struct hdr)];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_EXECFAIL);
    rec_hdr(&r)->pid = r_getpid();
    rec_send(&r);
}

/* The executable execvp/posix_spawnp will run: `file` with a slash as is,
 * else the first executable regular file in PATH. */
static long search_path(const char *file, char *out, size_t cap) {
    size_t fl = slen(file);
    for (const char *c = file; *c; c++)
        if (*c == '/') {
            if (fl >= cap) return -1;
            memcpy(out, file, fl + 1);
            return (long)fl;
        }
    if (fl == 0) return -1;
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    const char *p = path;
    for (;;) {
        const char *e = p;
        while (*e && *e != ':') e++;
        size_t dl = (size_t)(e - p);
        if (dl + 1 + fl < cap) {
            size_t n = 0;
            if (dl == 0) out[n++] = '.';
            else {
                memcpy(out, p, dl);
                n = dl;
            }
            out[n++] = '/';
            memcpy(out + n, file, fl + 1);
            struct stat st;
            if (r_fstatat(AT_FDCWD, out, &st, 0) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111))
                return (long)(n + fl);
        }
        if (!*e) break;
        p = e + 1;
    }
    return -1;
}

/* Everything an exec hook needs, prepared on the caller's stack. */
struct exec_prep {
    char canon[PATH_MAX];
    long cl;
    int blind;
    char var[PATH_MAX + 48]; /* ROAR_PRELOAD_EXEC=P<pid>:<canon> */
};

/* `marker` 'P': this process execs (the pid stays); 'C': a child will
 * (posix_spawn; the child checks its ppid). The file is opened once: its
 * canonical path (as ptrace's resolve::followed) and its kind. */
static void exec_prepare(struct exec_prep *x, int dirfd, const char *path, int empty_path_fd,
                         char marker, char *const argv[]) {
    x->cl = -1;
    x->blind = 0;
    x->var[0] = 0;
    if (empty_path_fd >= 0) {
        x->cl = fd_path_x(empty_path_fd, x->canon, sizeof x->canon, 1);
        if (x->cl > 0) x->blind = blind_kind_fd(empty_path_fd, x->canon, 0);
    } else if (path) {
        char lex[PATH_MAX];
        if (lexical(dirfd, path, lex, sizeof lex, 1) > 0) {
            int fd = r_openat(AT_FDCWD, lex, EXEC_OPEN);
            int readable = fd >= 0;
            if (!readable) fd = r_openat(AT_FDCWD, lex, O_PATH | O_CLOEXEC);
            if (fd >= 0) {
                x->cl = fd_path_x(fd, x->canon, sizeof x->canon, 1);
                if (readable && x->cl > 0) x->blind = blind_kind_fd(fd, x->canon, 0);
                r_close(fd);
            }
        }
    }
    if (x->cl <= 0) return;
    if (x->blind && marker == 'P') emit_blind(x->blind, x->canon, (size_t)x->cl, argv);
    size_t n = 0;
    memcpy(x->var, ENV_EXEC "=", sizeof ENV_EXEC);
    n = sizeof ENV_EXEC;
    x->var[n++] = marker;
    n += utoa((unsigned long)r_getpid(), x->var + n);
    x->var[n++] = ':';
    memcpy(x->var + n, x->canon, (size_t)x->cl + 1);
}

static size_t env_count(char *const envp[]) {
    size_t n = 0;
    if (envp)
        while (envp[n]) n++;
    return n;
}

static int env_is(const char *entry, const char *name) {
    size_t n = slen(name);
    return memcmp(entry, name, n) == 0 && entry[n] == '=';
}

/* Does the LD_PRELOAD value list our library? */
static int preload_has_lib(const char *v) {
    size_t ll = slen(g_lib);
    if (!ll) return 1;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == ':') p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != ':') e++;
        if ((size_t)(e - p) == ll && memcmp(p, g_lib, ll) == 0) return 1;
        p = e;
    }
    return 0;
}

static size_t env_preload_len(char *const envp[]) {
    for (size_t i = 0; envp && envp[i]; i++)
        if (env_is(envp[i], "LD_PRELOAD")) return slen(envp[i]);
    return 0;
}

/* The environment for the new image: envp with LD_PRELOAD listing the
 * shim (the user's entries kept), the roar variables restored, and
 * ROAR_PRELOAD_EXEC naming the exec'd file. `out` has room for
 * env_count(envp) + 5 entries, `ld` for env_preload_len(envp) + |lib| + 16. */
static char *const *env_build(char *const envp[], char **out, char *ld, const char *var) {
    size_t o = 0;
    int has_ld = 0, has_log = 0, has_lib = 0;
    for (size_t i = 0; envp && envp[i]; i++) {
        char *e = envp[i];
        if (env_is(e, ENV_EXEC)) continue;
        if (env_is(e, "LD_PRELOAD")) {
            has_ld = 1;
            const char *v = e + 11;
            if (!preload_has_lib(v)) {
                size_t n = 0;
                memcpy(ld, "LD_PRELOAD=", 11);
                n = 11;
                size_t ll = slen(g_lib);
                memcpy(ld + n, g_lib, ll);
                n += ll;
                if (*v) ld[n++] = ' ';
                size_t vl = slen(v);
                memcpy(ld + n, v, vl + 1);
                e = ld;
            }
        } else if (env_is(e, ENV_LOG)) {
            has_log = 1;
        } else if (env_is(e, ENV_LIB)) {
            has_lib = 1;
        }
        out[o++] = e;
    }
    if (!has_ld) {
        size_t ll = slen(g_lib);
        memcpy(ld, "LD_PRELOAD=", 11);
        memcpy(ld + 11, g_lib, ll + 1);
        out[o++] = ld;
    }
    if (!has_log) out[o++] = g_env_log;
    if (!has_lib) out[o++] = g_env_lib;
    if (var && var[0]) out[o++] = (char *)var;
    out[o] = NULL;
    return out;
}

/* Declares `newenv` (on the stack) built from ENVP for the exec prepared in X. */
#define WITH_ENV(ENVP, X)                                                   \
    size_t env_n_ = env_count(ENVP);                                        \
    char *env_arr_[env_n_ + 5];                                             \
    char env_ld_[env_preload_len(ENVP) + slen(g_lib) + 16];                 \
    char *const *newenv = env_build(ENVP, env_arr_, env_ld_, (X)->var);

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_execveat)(int, const char *, char *const[], char *const[], int);
static int (*real_posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                               const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[], char *const[]);

static void exec_failed(const struct exec_prep *x) {
    if (x->blind) {
        int saved = errno;
        emit_execfail();
        errno = saved;
    }
}

static int do_execve(const char *path, char *const argv[], char *const envp[]) {
    if (!active()) return REAL(execve)(path, argv, envp);
    struct exec_prep x;
    exec_prepare(&x, AT_FDCWD, path, -1, 'P', argv);
    WITH_ENV(envp, &x)
    int r = REAL(execve)(path, argv, newenv);
    exec_failed(&x);
    return r;
}

static int do_execvpe(const char *file, char *const argv[], char *const envp[]) {
    if (!active()) return REAL(execvpe)(file, argv, envp);
    struct exec_prep x;
    char found[PATH_MAX];
    if (search_path(file, found, sizeof found) > 0) exec_prepare(&x, AT_FDCWD, found, -1, 'P', argv);
    else exec_prepare(&x, AT_FDCWD, NULL, -1, 'P', argv);
    WITH_ENV(envp, &x)
    int r = REAL(execvpe)(file, argv, newenv);
    exec_failed(&x);
    return r;
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
    return do_execve(path, argv, envp);
}
EXPORT int execv(const char *path, char *const argv[]) { return do_execve(path, argv, environ); }
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
    return do_execvpe(file, argv, envp);
}
EXPORT int execvp(const char *file, char *const argv[]) { return do_execvpe(file, argv, environ); }

EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
    if (!active()) return REAL(fexecve)(fd, argv, envp);
    struct exec_prep x;
    exec_prepare(&x, AT_FDCWD, NULL, fd, 'P', argv);
    WITH_ENV(envp, &x)
    int r = REAL(fexecve)(fd, argv, newenv);
    exec_failed(&x);
    return r;
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags) {
    if (!active()) return REAL(execveat)(dirfd, path, argv, envp, flags);
    struct exec_prep x;
    if ((flags & AT_EMPTY_PATH) && !path[0]) exec_prepare(&x, dirfd, NULL, dirfd, 'P', argv);
    else exec_prepare(&x, dirfd, path, -1, 'P', argv);
    WITH_ENV(envp, &x)
    int r = REAL(execveat)(dirfd, path, argv, newenv, flags);
    exec_failed(&x);
    return r;
}

/* execl* take their argv as varargs: collect them on the stack. */
#define VA_ARGV(FIRST, LAST, ARGV, EXTRA)                          \
    size_t argc_ = 1;                                              \
    {                                                              \
        va_list ap;                                                \
        va_start(ap, LAST);                                        \
        while (va_arg(ap, char *)) argc_++;                        \
        va_end(ap);                                                \
    }                                                              \
    char *ARGV[argc_ + 1];                                         \
    EXTRA;                                                         \
    {                                                              \
        va_list ap;                                                \
        va_start(ap, LAST);                                        \
        ARGV[0] = (char *)(FIRST);                                 \
        for (size_t i = 1; i <= argc_; i++) ARGV[i] = va_arg(ap, char *); \
        va_end(ap);                                                \
    }

EXPORT int execl(const char *path, const char *arg, ...) {
    VA_ARGV(arg, arg, argv, (void)0)
    return do_execve(path, argv, environ);
}
EXPORT int execlp(const char *file, const char *arg, ...) {
    VA_ARGV(arg, arg, argv, (void)0)
    return do_execvpe(file, argv, environ);
}
EXPORT int execle(const char *path, const char *arg, ...) {
    VA_ARGV(arg, arg, argv, (void)0)
    char *const *envp;
    {
        va_list ap;
        va_start(ap, arg);
        for (size_t i = 1; i <= argc_; i++) (void)va_arg(ap, char *);
        envp = va_arg(ap, char *const *);
        va_end(ap);
    }
    return do_execve(path, argv, envp);
}

static int do_spawn(int p, pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                    const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
    if (!active()) return p ? REAL(posix_spawnp)(pid, file, fa, at, argv, envp)
                            : REAL(posix_spawn)(pid, file, fa, at, argv, envp);
    struct exec_prep x;
    char found[PATH_MAX];
    if (!p) exec_prepare(&x, AT_FDCWD, file, -1, 'C', argv);
    else if (search_path(file, found, sizeof found) > 0) exec_prepare(&x, AT_FDCWD, found, -1, 'C', argv);
    else exec_prepare(&x, AT_FDCWD, NULL, -1, 'C', argv);
    WITH_ENV(envp, &x)
    pid_t child = 0;
    int r = p ? REAL(posix_spawnp)(&child, file, fa, at, argv, newenv)
              : REAL(posix_spawn)(&child, file, fa, at, argv, newenv);
    if (pid) *pid = child;
    if (r == 0 && x.blind) {
        /* The child will not report itself: do it on its behalf. */
        int saved = errno;
        char buf[16384];
        struct rec rr;
        rec_begin(&rr, buf, sizeof buf, R_BLIND);
        rec_hdr(&rr)->pid = child;
        rec_hdr(&rr)->a = x.blind;
        rec_hdr(&rr)->b = r_getpid();
        if (rec_str(&rr, x.canon, (size_t)x.cl)) {
            for (int i = 0; argv && argv[i]; i++)
                if (!rec_str(&rr, argv[i], slen(argv[i]))) break;
            rec_send(&rr);
        }
        errno = saved;
    }
    return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
    return do_spawn(0, pid, path, fa, at, argv, envp);
}
EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
    return do_spawn(1, pid, file, fa, at, argv, envp);
}

/* ------------------------------------------------------------------ */
/* io_uring and raw syscall(2).                                        */

static void emit_uring(void) {
    char buf[sizeof(struct hdr)];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_URING);
    rec_send(&r);
}

static long (*real_syscall)(long, ...);
EXPORT long syscall(long nr, ...) {
    va_list ap;
    va_start(ap, nr);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (!active()) return REAL(syscall)(nr, a, b, c, d, e, f);
    switch (nr) {
#ifdef SYS_io_uring_setup
    case SYS_io_uring_setup: {
        long r = REAL(syscall)(nr, a, b, c, d, e, f);
        int saved = errno;
        if (r >= 0) emit_uring();
        errno = saved;
        return r;
    }
#endif
#ifdef SYS_open
    case SYS_open: {
        const char *path = (const char *)a;
        int flags = (int)b;
        OPEN_BODY(AT_FDCWD, (int)REAL(syscall)(nr, a, (long)flags, c, d, e, f))
    }
#endif
    case SYS_openat: {
        const char *path = (const char *)b;
        int flags = (int)c;
        OPEN_BODY((int)a, (int)REAL(syscall)(nr, a, b, (long)flags, d, e, f))
    }
#ifdef SYS_close_range
    case SYS_close_range:
        if (!((int)c & CLOSE_RANGE_CLOEXEC) && (unsigned)a <= (unsigned)b) {
            int r = close_range_skip((unsigned)a, (unsigned)b, (int)c);
            return r;
        }
        break;
#endif
    case SYS_close:
        if (is_ours((int)a)) return 0;
        break;
    case SYS_dup2:
    case SYS_dup3:
        if (is_ours((int)b) && a != b) own_fd_move((int)b);
        break;
    default:
        break;
    }
    return REAL(syscall)(nr, a, b, c, d, e, f);
}

/* liburing sets its rings up with an inline syscall: interpose its entry
 * points (resolved only when the program links liburing). */
struct io_uring;
struct io_uring_params;
static int (*real_io_uring_queue_init)(unsigned, struct io_uring *, unsigned);
static int (*real_io_uring_queue_init_params)(unsigned, struct io_uring *, struct io_uring_params *);
EXPORT int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags) {
    if (!REAL(io_uring_queue_init)) return -ENOSYS;
    int r = real_io_uring_queue_init(entries, ring, flags);
    if (r >= 0 && active()) emit_uring();
    return r;
}
EXPORT int io_uring_queue_init_params(unsigned entries, struct io_uring *ring,
                                      struct io_uring_params *p) {
    if (!REAL(io_uring_queue_init_params)) return -ENOSYS;
    int r = real_io_uring_queue_init_params(entries, ring, p);
    if (r >= 0 && active()) emit_uring();
    return r;
}

/* ------------------------------------------------------------------ */
/* Shared libraries: the dynamic loader opens them with its own syscalls
 * (not interposable); ptrace sees those opens as reads. The objects
 * loaded at start are recorded by the constructor; those dlopen'd later
 * when the next open (or exit) notices the loader's load counter moved.
 * (Interposing dlopen itself would make the shim the caller, and dlopen
 * searches the *caller's* RUNPATH: programs would stop finding libraries.) */

struct lib_scan {
    int index;
    int from; /* record objects at this index and after */
    unsigned long ldso;
    unsigned long long adds;
    struct rec *r;
};

static int g_lib_count;               /* objects seen at the last scan */
static unsigned long long g_lib_adds; /* the loader's load counter then */

static int lib_cb(struct dl_phdr_info *info, size_t size, void *data) {
    struct lib_scan *sc = data;
    int i = sc->index++;
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs)) sc->adds = info->dlpi_adds;
    if (i < sc->from) return 0;
    const char *name = info->dlpi_name;
    if (!name || !name[0] || info->dlpi_addr == sc->ldso) return 0;
    size_t n = slen(name);
    if (name[0] != '/') {
        /* dlopen("./x.so") keeps the name as given: relative to the cwd
         * (the vDSO's name has no slash at all). */
        if (!has_slash(name)) return 0;
        char abs[PATH_MAX];
        long k = lexical(AT_FDCWD, name, abs, sizeof abs, 0);
        if (k > 0) rec_str(sc->r, abs, (size_t)k);
        return 0;
    }
    if (n == slen(g_lib) && memcmp(name, g_lib, n) == 0) return 0; /* the shim */
    rec_str(sc->r, name, n);
    return 0;
}

/* Add the objects loaded since the last scan to `r` (an R_LIBS record).
 * No syscalls: the collector canonicalises the names, once per job. */
static void scan_libs(struct rec *r) {
    struct lib_scan sc = {0, g_lib_count, getauxval(AT_BASE), 0, r};
    dl_iterate_phdr(lib_cb, &sc);
    if (sc.index < g_lib_count) {
        /* Objects were unloaded: indexes moved; look at all of them. */
        sc.index = 0;
        sc.from = 0;
        dl_iterate_phdr(lib_cb, &sc);
    }
    g_lib_count = sc.index;
    g_lib_adds = sc.adds;
}

static int adds_cb(struct dl_phdr_info *info, size_t size, void *data) {
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs))
        *(unsigned long long *)data = info->dlpi_adds;
    return 1; /* the counter is the same in every entry: stop */
}

/* Something was dlopen'd since the last look? (~12 ns.) Not from exec
 * hooks or _exit: those may run in a vfork child. */
static void check_libs(void) {
    unsigned long long adds = 0;
    dl_iterate_phdr(adds_cb, &adds);
    if (adds == g_lib_adds) return;
    char buf[16384];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_LIBS);
    scan_libs(&r);
    if (rec_hdr(&r)->nstr) rec_send(&r);
}

/* ------------------------------------------------------------------ */
/* Processes: start (constructor, fork), exit.                          */

/* _Fork (glibc 2.34) runs no atfork handlers. */
static pid_t (*real__Fork)(void);
EXPORT pid_t _Fork(void) {
    pid_t p = REAL(_Fork)();
    if (p == 0) atfork_child();
    return p;
}

static void emit_exit(int code) {
    char buf[sizeof(struct hdr)];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_EXIT);
    rec_hdr(&r)->pid = r_getpid();
    rec_hdr(&r)->a = code;
    rec_send(&r);
}

static void (*real_exit)(int) __attribute__((noreturn));
static void (*real__exit)(int) __attribute__((noreturn));
static void (*real__Exit)(int) __attribute__((noreturn));
EXPORT void exit(int code) {
    if (g_active) {
        check_libs();
        emit_exit(code & 0xff);
    }
    REAL(exit)(code);
    __builtin_unreachable();
}
EXPORT void _exit(int code) {
    if (g_active) emit_exit(code & 0xff);
    REAL(_exit)(code);
    __builtin_unreachable();
}
EXPORT void _Exit(int code) {
    if (g_active) emit_exit(code & 0xff);
    REAL(_Exit)(code);
    __builtin_unreachable();
}

/* main's return value is an exit status too: wrap main. */
typedef int (*main_fn)(int, char **, char **);
static main_fn g_main;
static int main_wrapper(int argc, char **argv, char **envp) {
    int code = g_main(argc, argv, envp);
    if (g_active) {
        check_libs();
        emit_exit(code & 0xff);
    }
    return code;
}
static int (*real___libc_start_main)(main_fn, int, char **, void (*)(void), void (*)(void),
                                     void (*)(void), void *);
EXPORT int __libc_start_main(main_fn main, int argc, char **argv, void (*in)(void), void (*fi)(void),
                             void (*rtld_fini)(void), void *stack_end) {
    g_main = main;
    return REAL(__libc_start_main)(main_wrapper, argc, argv, in, fi, rtld_fini, stack_end);
}

/* (Re)open /proc/<pid>/fd for this process, at `at` if that is >= 0. */
static void procfd_open(int at) {
    int fd = r_openat(AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        if (at >= 0) r_close(at);
        g_procfd = -1;
        return;
    }
    int want = at >= 0 ? at : (int)S3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, log_fd_base());
    if (want >= 0 && want != fd) {
        if (at >= 0) S3(SYS_dup3, fd, want, O_CLOEXEC);
        r_close(fd);
        fd = want;
    }
    g_procfd = fd;
}

/* Open g_procfd on first use, unless this is a vfork child (whose memory
 * is its parent's) or it could not be opened before. */
static int g_procfd_failed;
static int procfd_lazy(void) {
    if (g_procfd_failed || !g_active || r_getpid() != g_pid) return -1;
    int fd = r_openat(AT_FDCWD, "/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        g_procfd_failed = 1;
        return -1;
    }
    int hi = (int)S3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, log_fd_base());
    if (hi >= 0) {
        r_close(fd);
        fd = hi;
    }
    if (!__sync_bool_compare_and_swap(&g_procfd, -1, fd)) {
        r_close(fd);
        return g_procfd;
    }
    return fd;
}

static void atfork_child(void) {
    if (!g_active) return;
    g_pid = r_getpid();
    if (g_procfd >= 0) procfd_open(g_procfd);
    char buf[sizeof(struct hdr)];
    struct rec r;
    rec_begin(&r, buf, sizeof buf, R_START);
    rec_hdr(&r)->a = r_getppid();
    rec_send(&r);
}

/* The process image started: its exe, argv, and the path exec'd (passed
 * by the exec hook of the previous image, when it was ours). One write. */
static void emit_image(int argc, char **argv) {
    static char buf[65536 + 2 * PATH_MAX + 16384]; /* constructor only: single-threaded */
    char exe[PATH_MAX];
    struct rec r;
    rec_begin(&r, buf, 65536, R_PEXEC);
    int ppid = r_getppid();
    rec_hdr(&r)->a = ppid;
    long el = proc_link("exe", exe, sizeof exe);
    rec_str(&r, exe, el < 0 ? 0 : (size_t)el);
    if (argv) {
        for (int i = 0; i < argc && argv[i]; i++)
            if (!rec_str(&r, argv[i], slen(argv[i]))) break;
    } else {
        /* Initialised by a hook that ran before the constructor (another
         * library's constructor opened a file): argv from /proc. */
        char cmd[32768];
        long total = 0;
        int fd = r_openat(AT_FDCWD, "/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            for (;;) {
                long n = S3(SYS_read, fd, cmd + total, sizeof cmd - (size_t)total);
                if (n <= 0) break;
                total += n;
                if ((size_t)total >= sizeof cmd) break;
            }
            r_close(fd);
        }
        long st = 0;
        for (long i = 0; i < total; i++) {
            if (cmd[i] == 0) {
                if (!rec_str(&r, cmd + st, (size_t)(i - st))) break;
                st = i + 1;
            }
        }
    }
    rec_hdr(&r)->len = (uint32_t)r.len;
    size_t total = r.len;

    /* The exec'd name (a #! script, or a symlink), if our exec hook left it. */
    const char *v = getenv(ENV_EXEC);
    if (v && (v[0] == 'P' || v[0] == 'C')) {
        const char *colon;
        long who = atol_s(v + 1, &colon);
        int ok = *colon == ':' && (v[0] == 'P' ? who == g_pid : who == ppid);
        size_t n = ok && colon[1] == '/' ? slen(colon + 1) : 0;
        if (n > 0 && n < PATH_MAX && (el < 0 || (size_t)el != n || memcmp(exe, colon + 1, n) != 0)) {
            struct rec e;
            rec_begin(&e, buf + total, sizeof buf - total, R_EXEC);
            if (rec_str(&e, colon + 1, n)) {
                rec_hdr(&e)->len = (uint32_t)e.len;
                total += e.len;
            }
        }
        unsetenv(ENV_EXEC);
    }
    if (el > 0) {
        struct rec e;
        rec_begin(&e, buf + total, sizeof buf - total, R_EXEC);
        if (rec_str(&e, exe, (size_t)el)) {
            rec_hdr(&e)->len = (uint32_t)e.len;
            total += e.len;
        }
    }
    {
        struct rec e;
        rec_begin(&e, buf + total, sizeof buf - total, R_LIBS);
        scan_libs(&e);
        if (rec_hdr(&e)->nstr) {
            rec_hdr(&e)->len = (uint32_t)e.len;
            total += e.len;
        }
    }
    long w;
    do {
        w = S3(SYS_write, g_logfd, buf, total);
    } while (w == -EINTR);
}

static void copy_env(char *dst, size_t cap, const char *name, const char *val) {
    size_t nl = slen(name), vl = slen(val);
    if (nl + 1 + vl + 1 > cap) {
        dst[0] = 0;
        return;
    }
    memcpy(dst, name, nl);
    dst[nl] = '=';
    memcpy(dst + nl + 1, val, vl + 1);
}

static void init_args(int argc, char **argv) {
    if (!__sync_bool_compare_and_swap(&g_init, 0, 1)) return;
    const char *log = getenv(ENV_LOG);
    const char *lib = getenv(ENV_LIB);
    if (!log || !*log || !lib || slen(lib) >= sizeof g_lib || slen(log) >= PATH_MAX) {
        g_init = 2;
        return;
    }
    memcpy(g_lib, lib, slen(lib) + 1);
    copy_env(g_env_log, sizeof g_env_log, ENV_LOG, log);
    copy_env(g_env_lib, sizeof g_env_lib, ENV_LIB, lib);
    int fd = r_openat(AT_FDCWD, log, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        g_init = 2;
        return;
    }
    int hi = (int)S3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, log_fd_base());
    if (hi >= 0) {
        r_close(fd);
        fd = hi;
    }
    g_logfd = fd;
    g_pid = r_getpid();
    pthread_atfork(NULL, NULL, atfork_child);
    g_active = 1;
    g_init = 2;
    emit_image(argc, argv);
}

/* A hook ran before the constructor (argv then comes from /proc). */
static void init(void) { init_args(0, NULL); }

/* glibc passes (argc, argv, envp) to ELF constructors. */
__attribute__((constructor)) static void roar_preload_ctor(int argc, char **argv, char **envp) {
    (void)envp;
    if (g_init == 0) init_args(argc, argv);
}
