// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * roar's eBPF tracer: file and process syscalls of the traced process
 * trees, filtered in the kernel (map "pids": tid -> job), paths resolved in
 * the kernel by walking dentries (crossing mounts), repeated identical opens
 * de-duplicated in the kernel (map "dedup"), records on one ring buffer with
 * a per-job drop counter. See ../README.md for the design.
 *
 * Only syscall tracepoints, tp_btf sched events, a ring buffer and hash/LRU
 * maps are used (no kprobes, fentry or LSM hooks). Syscall arguments are read
 * from the task's saved user registers at sys_exit, when the call's outcome
 * is known and the user strings are resident; only rename also runs at
 * sys_enter (whether its target exists).
 */
#include "roar_kern.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "roar_events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200
#define O_ACCMODE 00000003
#define O_CREAT 00000100
#define O_EXCL 00000200
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_DIRECTORY 00200000
#define O_PATH 010000000
#define __O_TMPFILE 020000000
#define CLASS_MASK (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_DIRECTORY)
#define FMODE_CREATED 0x100000
#define S_IFMT 00170000
#define S_IFDIR 0040000
#define S_IFREG 0100000

#define DATA_MASK 16383
#define DATA_SIZE (16384 + 4096)
#define NAME_Z 256       /* a component with its NUL */
#define USTR_MAX 4096    /* PATH_MAX */
#define WALK_LIMIT 4096  /* bytes of components per walked path */
#define WALK_DEPTH 512
#define SCAN_LIMIT 16384 /* steps resolving a rename target in the dcache */
#define WAKE_AT (1 << 20)

/* ---- maps ---- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);   /* tid */
	__type(value, u32); /* job */
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, struct roar_job);
} jobs SEC(".maps");

/* Written by user space only: bumped on every flush (interval marks). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u32);
} epochs SEC(".maps");

struct dedup_key {
	u32 job;
	u32 uepoch;
	u64 kepoch;
	u32 kind;
	u32 class;
	u64 a, b, c, d;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dedup_key);
	__type(value, u8);
} dedup SEC(".maps");

/* rename: target state found at sys_enter, per tid */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, u32);
	__type(value, u32);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* [0] records dropped in total (all jobs) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} dropped SEC(".maps");

/* rename target resolution state (kept in the map, not on the stack, so
 * the verifier treats it as unknown and the bpf_loop callback converges) */
struct res_ctx {
	u64 dir;   /* struct dentry * */
	u64 node;  /* next child (struct hlist_node *) while scanning */
	u64 sib_off;
	u32 pos;   /* current component: data[pos .. end) */
	u32 end;
	u32 after; /* past the slashes that follow it */
	u32 total; /* length of the target string */
	u32 phase; /* 0 skip '/', 1 find the end, 2 skip '/' after, 3 scan */
	u32 state;
};

struct scratch {
	struct roar_ev h;
	u8 data[DATA_SIZE];
	struct res_ctx res;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* ---- helpers ---- */

static __always_inline struct scratch *scratch_get(void)
{
	u32 k = 0;
	return bpf_map_lookup_elem(&scratch, &k);
}

static __always_inline struct roar_job *job_of(u32 tid, u32 *jid)
{
	u32 *j = bpf_map_lookup_elem(&pids, &tid);
	if (!j)
		return 0;
	*jid = *j;
	return bpf_map_lookup_elem(&jobs, j);
}

static __always_inline struct roar_job *cur_job(u32 *jid)
{
	return job_of((u32)bpf_get_current_pid_tgid(), jid);
}

static __always_inline void ev_init(struct scratch *s, u32 kind, u32 jid)
{
	u64 id = bpf_get_current_pid_tgid();
	s->h.kind = kind;
	s->h.reserved = 0;
	s->h.job = jid;
	s->h.pid = id >> 32;
	s->h.tid = (u32)id;
	s->h.ret = 0;
	s->h.a0 = 0;
	s->h.a1 = 0;
	s->h.a2 = 0;
	s->h.a3 = 0;
	s->h.x0 = 0;
	s->h.sec[0] = ROAR_SEC_NONE;
	s->h.sec[1] = ROAR_SEC_NONE;
	s->h.sec[2] = ROAR_SEC_NONE;
	s->h.sec[3] = ROAR_SEC_NONE;
}

static __always_inline void count_drop(struct roar_job *job)
{
	u32 k = 0;
	u64 *v = bpf_map_lookup_elem(&dropped, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	if (job)
		__sync_fetch_and_add(&job->drops, 1);
}

/* Put the record (header + `off` bytes of sections) on the ring. */
static __always_inline int emit(struct scratch *s, u32 off, struct roar_job *job, u64 flags)
{
	u64 size = sizeof(struct roar_ev) + (u64)off;
	if (size > sizeof(struct scratch))
		return -1;
	asm volatile("%0 &= 0x7fff" : "+r"(size));
	if (size > sizeof(struct scratch))
		return -1;
	if (!flags)
		flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > WAKE_AT ? BPF_RB_FORCE_WAKEUP
										 : BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_output(&events, s, size, flags)) {
		count_drop(job);
		return -1;
	}
	return 0;
}

static __always_inline struct file *fd_file(struct task_struct *t, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt || fd < 0)
		return 0;
	u32 max = BPF_CORE_READ(fdt, max_fds);
	if ((u64)fd >= max)
		return 0;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]);
	return f;
}

/* ---- dentry walk ---- */

struct walk_ctx {
	struct dentry *d;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_mnt;
	struct mnt_namespace *ns;
	u32 start;
	u32 off;
	int status; /* 0 running, 1 done, <0 failed */
};

static __always_inline struct vfsmount *vfsmnt_of(struct mount *m)
{
	return (struct vfsmount *)((char *)m + bpf_core_field_offset(struct mount, mnt));
}

static long walk_step(u32 i, void *arg)
{
	struct walk_ctx *c = arg;
	struct dentry *d = c->d;
	struct mount *mnt = c->mnt;
	struct vfsmount *vm = vfsmnt_of(mnt);

	if (d == c->root_d && vm == c->root_mnt) {
		c->status = 1;
		return 1;
	}
	if (d == BPF_CORE_READ(vm, mnt_root)) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);
		if (!mp || mp == mnt) {
			/* The namespace's root (a chroot's outside), or a mount
			 * no path reaches (pipefs, sockfs, detached). */
			c->status = BPF_CORE_READ(mnt, mnt_ns) == c->ns ? 1 : -1;
			return 1;
		}
		c->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mp;
		return 0;
	}
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (!parent || parent == d) {
		c->status = -1; /* a filesystem root that is not a mount root */
		return 1;
	}
	struct scratch *s = scratch_get();
	if (!s) {
		c->status = -3;
		return 1;
	}
	u32 off = c->off;
	if (off > DATA_MASK - NAME_Z || off - c->start > WALK_LIMIT) {
		c->status = -2;
		return 1;
	}
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], NAME_Z, name);
	if (n <= 0) {
		c->status = -3;
		return 1;
	}
	c->off = off + (u32)n;
	c->d = parent;
	return 0;
}

/*
 * Append the path of (d, vm) as a walk section at *off. The walk stops at
 * the task's root (chroot aware) or its mount namespace's root. Returns 0,
 * or -1 when the object has no path (pipe, socket, anon inode…).
 */
static __always_inline int walk(struct task_struct *t, struct dentry *d, struct vfsmount *vm,
				u32 *off, int idx)
{
	struct scratch *s;
	struct walk_ctx c = {};
	u32 start = *off;

	if (!d || !vm)
		return -1;
	c.d = d;
	c.mnt = (struct mount *)((char *)vm - bpf_core_field_offset(struct mount, mnt));
	c.root_d = BPF_CORE_READ(t, fs, root.dentry);
	c.root_mnt = BPF_CORE_READ(t, fs, root.mnt);
	c.ns = BPF_CORE_READ(t, nsproxy, mnt_ns);
	c.start = start;
	c.off = start;
	bpf_loop(WALK_DEPTH, walk_step, &c, 0);
	if (c.status != 1)
		return -1;
	if (c.off - start > WALK_LIMIT + NAME_Z)
		return -1;
	s = scratch_get();
	if (!s)
		return -1;
	s->h.sec[idx & 3] = (u16)(c.off - start);
	*off = c.off;
	return 0;
}

static __always_inline int walk_file(struct task_struct *t, struct file *f, u32 *off, int idx)
{
	if (!f)
		return -1;
	return walk(t, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), off, idx);
}

/* A string section from user memory; returns its first byte or -1. */
static __always_inline int user_str(const char *p, u32 *off, int idx)
{
	struct scratch *s = scratch_get();
	if (!s || !p)
		return -1;
	u32 o = *off;
	if (o > DATA_MASK - USTR_MAX)
		return -1;
	long n = bpf_probe_read_user_str(&s->data[o & DATA_MASK], USTR_MAX, p);
	if (n <= 0)
		return -1;
	s->h.sec[idx & 3] = (u16)(n - 1);
	*off = o + (u32)(n - 1);
	return s->data[o & DATA_MASK];
}

/* The directory a relative name is resolved in: dirfd, or the cwd. */
static __always_inline int base_dir(struct task_struct *t, int dfd, u32 *off, int idx)
{
	if (dfd == AT_FDCWD)
		return walk(t, BPF_CORE_READ(t, fs, pwd.dentry), BPF_CORE_READ(t, fs, pwd.mnt), off,
			    idx);
	return walk_file(t, fd_file(t, dfd), off, idx);
}

/* A name operand: the string as given, and its base unless absolute. */
static __always_inline int name_operand(struct task_struct *t, int dfd, const char *p, u32 *off,
					int idx)
{
	int first = user_str(p, off, idx);
	if (first < 0)
		return -1;
	if (first == '/')
		return 0;
	return base_dir(t, dfd, off, idx + 1);
}

/* The current task's job, or return: the in-kernel filter every program
 * starts with (one hash lookup for tasks that are not traced). */
#define TRACKED()                                   \
	u32 jid;                                    \
	struct roar_job *job = cur_job(&jid);       \
	if (!job)                                   \
		return 0

static __always_inline struct pt_regs *uregs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

#define ARG1(r) BPF_CORE_READ(r, di)
#define ARG2(r) BPF_CORE_READ(r, si)
#define ARG3(r) BPF_CORE_READ(r, dx)
#define ARG4(r) BPF_CORE_READ(r, r10)
#define ARG5(r) BPF_CORE_READ(r, r8)

/* tracepoint contexts (the tracepoint ABI, fixed) */
struct sys_enter_ctx {
	u64 common;
	long nr;
	unsigned long args[6];
};

struct sys_exit_ctx {
	u64 common;
	long nr;
	long ret;
};

/* ---- opens ---- */

static __always_inline s64 mtime_ns(struct inode *ino)
{
	if (bpf_core_field_exists(ino->i_mtime_sec))
		return BPF_CORE_READ(ino, i_mtime_sec) * 1000000000LL +
		       BPF_CORE_READ(ino, i_mtime_nsec);
	struct inode___v66 *i66 = (void *)ino;
	if (bpf_core_field_exists(i66->__i_mtime))
		return BPF_CORE_READ(i66, __i_mtime.tv_sec) * 1000000000LL +
		       BPF_CORE_READ(i66, __i_mtime.tv_nsec);
	struct inode___v5 *i5 = (void *)ino;
	return BPF_CORE_READ(i5, i_mtime.tv_sec) * 1000000000LL +
	       BPF_CORE_READ(i5, i_mtime.tv_nsec);
}

static __always_inline u32 uepoch(u32 jid)
{
	u32 *e = bpf_map_lookup_elem(&epochs, &jid);
	return e ? *e : 0;
}

static __always_inline int open_exit(struct roar_job *job, u32 jid, long ret, u32 flags)
{
	if (ret < 0)
		return 0;
	if (flags & (O_PATH | __O_TMPFILE))
		return 0; /* metadata only / unnamed until linkat */
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file *f = fd_file(t, ret);
	if (!f)
		return 0;
	struct dentry *d = BPF_CORE_READ(f, f_path.dentry);
	struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	u32 fmode = BPF_CORE_READ(f, f_mode);
	u32 imode = BPF_CORE_READ(ino, i_mode);
	u32 class = (flags & CLASS_MASK) | ((fmode & FMODE_CREATED) ? 0x80000000u : 0) |
		    ((imode & S_IFMT) == S_IFDIR ? 0x40000000u : 0);
	struct dedup_key k = {
		.job = jid,
		.uepoch = uepoch(jid),
		.kepoch = job->kepoch,
		.kind = ROAR_EV_OPEN,
		.class = class,
		.a = (u64)d,
		.b = (u64)vm,
		.c = BPF_CORE_READ(ino, i_ino),
		.d = BPF_CORE_READ(d, d_name.hash_len),
	};
	if (bpf_map_lookup_elem(&dedup, &k))
		return 0;
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_OPEN, jid);
	u32 off = 0;
	if (walk(t, d, vm, &off, 0))
		return 0;
	s->h.ret = ret;
	s->h.a0 = flags;
	s->h.a1 = fmode;
	s->h.a2 = imode;
	s->h.x0 = mtime_ns(ino);
	if (emit(s, off, job, 0) == 0) {
		u8 one = 1;
		bpf_map_update_elem(&dedup, &k, &one, BPF_ANY);
	}
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int exit_openat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	struct pt_regs *r = uregs();
	return open_exit(job, jid, ctx->ret, (u32)ARG3(r));
}

SEC("tp/syscalls/sys_exit_open")
int exit_open(struct sys_exit_ctx *ctx)
{
	TRACKED();
	struct pt_regs *r = uregs();
	return open_exit(job, jid, ctx->ret, (u32)ARG2(r));
}

SEC("tp/syscalls/sys_exit_creat")
int exit_creat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	return open_exit(job, jid, ctx->ret, 01 | O_CREAT | O_TRUNC);
}

SEC("tp/syscalls/sys_exit_openat2")
int exit_openat2(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	u64 flags = 0;
	/* struct open_how { u64 flags; u64 mode; u64 resolve; } */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ARG3(r));
	return open_exit(job, jid, ctx->ret, (u32)flags);
}

/* ---- name operations ---- */

static __always_inline void bump_kepoch(struct roar_job *job)
{
	__sync_fetch_and_add(&job->kepoch, 1);
}

/* kind with one name operand (dfd, path) */
static __always_inline int name_exit(struct roar_job *job, u32 jid, long ret, u32 kind, int dfd,
				     const char *p)
{
	if (ret < 0)
		return 0;
	if (kind != ROAR_EV_TRUNCATE)
		bump_kepoch(job);
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, kind, jid);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u32 off = 0;
	if (name_operand(t, dfd, p, &off, 0))
		return 0;
	s->h.ret = ret;
	emit(s, off, job, 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_unlink")
int exit_unlink(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_UNLINK, AT_FDCWD, (const char *)ARG1(r));
}

SEC("tp/syscalls/sys_exit_unlinkat")
int exit_unlinkat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	u32 kind = (ARG3(r) & AT_REMOVEDIR) ? ROAR_EV_RMDIR : ROAR_EV_UNLINK;
	return name_exit(job, jid, ctx->ret, kind, (int)ARG1(r), (const char *)ARG2(r));
}

SEC("tp/syscalls/sys_exit_rmdir")
int exit_rmdir(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_RMDIR, AT_FDCWD, (const char *)ARG1(r));
}

SEC("tp/syscalls/sys_exit_mkdir")
int exit_mkdir(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_MKDIR, AT_FDCWD, (const char *)ARG1(r));
}

SEC("tp/syscalls/sys_exit_mkdirat")
int exit_mkdirat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_MKDIR, (int)ARG1(r), (const char *)ARG2(r));
}

SEC("tp/syscalls/sys_exit_link")
int exit_link(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_LINK, AT_FDCWD, (const char *)ARG2(r));
}

SEC("tp/syscalls/sys_exit_linkat")
int exit_linkat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_LINK, (int)ARG3(r), (const char *)ARG4(r));
}

SEC("tp/syscalls/sys_exit_symlink")
int exit_symlink(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_SYMLINK, AT_FDCWD, (const char *)ARG2(r));
}

SEC("tp/syscalls/sys_exit_symlinkat")
int exit_symlinkat(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_SYMLINK, (int)ARG2(r), (const char *)ARG3(r));
}

SEC("tp/syscalls/sys_exit_truncate")
int exit_truncate(struct sys_exit_ctx *ctx)
{
	TRACKED();
	if (ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	return name_exit(job, jid, ctx->ret, ROAR_EV_TRUNCATE, AT_FDCWD, (const char *)ARG1(r));
}

/* ---- rename ---- */

/*
 * Did the rename target exist at sys_enter? Looked up in the dcache: the
 * target path (as given, relative to the dirfd/cwd or absolute) is
 * resolved component by component by scanning each directory's cached
 * children, the final component's dentry is positive (exists) or negative
 * (looked up, absent), and a name not cached in a directory is taken as
 * absent. One bpf_loop step per child visited, SCAN_LIMIT in all.
 * Symlinks, mount points and `..` across a mount on the way, or a kernel
 * older than 6.8 (children on a list_head), give ROAR_TGT_UNKNOWN.
 */
#define CAND_AT 8192 /* where a candidate name is copied in scratch */


/* One character of the path, or one cached child, per step. */
static long res_step(u32 i, void *arg)
{
	struct scratch *s = scratch_get();
	if (!s)
		return 1;
	struct res_ctx *c = &s->res;
	u32 phase = c->phase;
	if (phase == 0) {
		u32 p = c->pos;
		if (p >= c->total) {
			c->state = ROAR_TGT_UNKNOWN; /* "x/" or "/" */
			return 1;
		}
		if (s->data[p & 4095] == '/') {
			c->pos = p + 1;
			return 0;
		}
		c->end = p;
		c->phase = 1;
		return 0;
	}
	if (phase == 1) {
		u32 e = c->end;
		if (e < c->total && s->data[e & 4095] != '/') {
			if (e - c->pos >= NAME_Z - 1) {
				c->state = ROAR_TGT_UNKNOWN;
				return 1;
			}
			c->end = e + 1;
			return 0;
		}
		c->after = e;
		c->phase = 2;
		return 0;
	}
	if (phase == 2) {
		u32 a = c->after;
		if (a < c->total && s->data[a & 4095] == '/') {
			c->after = a + 1;
			return 0;
		}
		u32 p = c->pos;
		u32 len = c->end - p;
		int last = a >= c->total;
		if (len == 1 && s->data[p & 4095] == '.') {
			if (last) {
				c->state = ROAR_TGT_UNKNOWN;
				return 1;
			}
			c->pos = a;
			c->phase = 0;
			return 0;
		}
		if (len == 2 && s->data[p & 4095] == '.' && s->data[(p + 1) & 4095] == '.') {
			struct dentry *cur = (struct dentry *)c->dir;
			struct dentry *up = BPF_CORE_READ(cur, d_parent);
			if (last || !up || up == cur) {
				c->state = ROAR_TGT_UNKNOWN; /* at a (mount) root */
				return 1;
			}
			c->dir = (u64)up;
			c->pos = a;
			c->phase = 0;
			return 0;
		}
		struct dentry *dir = (struct dentry *)c->dir;
		c->node = (u64)BPF_CORE_READ(dir, d_children.first);
		c->phase = 3;
		return 0;
	}
	int last = c->after >= c->total;
	struct hlist_node *n = (struct hlist_node *)c->node;
	if (!n) {
		c->state = last ? ROAR_TGT_ABSENT : ROAR_TGT_UNKNOWN;
		return 1;
	}
	struct dentry *d = (struct dentry *)((char *)n - c->sib_off);
	c->node = (u64)BPF_CORE_READ(n, next);
	u32 p = c->pos;
	u32 len = c->end - p;
	if (BPF_CORE_READ(d, d_name.len) != len)
		return 0;
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	if (bpf_probe_read_kernel_str(&s->data[CAND_AT], NAME_Z, name) <= 0)
		return 0;
	for (u32 k = 0; k < NAME_Z - 1; k++) {
		if (k >= len)
			break;
		if (s->data[(p + k) & 4095] != s->data[CAND_AT + k])
			return 0;
	}
	struct inode *ino = BPF_CORE_READ(d, d_inode);
	if (last) {
		c->state = ino ? ROAR_TGT_EXISTS : ROAR_TGT_NEGATIVE;
		return 1;
	}
	/* an intermediate directory: follow it unless it is a symlink, not
	 * a directory, or has something mounted on it */
	u32 dflags = BPF_CORE_READ(d, d_flags);
	if (!ino || (BPF_CORE_READ(ino, i_mode) & S_IFMT) != S_IFDIR ||
	    !bpf_core_enum_value_exists(enum dentry_flags, DCACHE_MOUNTED) ||
	    (dflags & bpf_core_enum_value(enum dentry_flags, DCACHE_MOUNTED))) {
		c->state = ROAR_TGT_UNKNOWN;
		return 1;
	}
	c->dir = (u64)d;
	c->pos = c->after;
	c->phase = 0;
	return 0;
}

static __always_inline int rename_enter(int dfd, const char *newp)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&pids, &tid))
		return 0;
	u32 state = ROAR_TGT_UNKNOWN;
	struct scratch *s = scratch_get();
	if (!s)
		goto out;
	long n = bpf_probe_read_user_str(&s->data[0], USTR_MAX, newp);
	if (n <= 1)
		goto out;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct dentry *dir;
	if (s->data[0] == '/') {
		dir = BPF_CORE_READ(t, fs, root.dentry);
	} else if (dfd == AT_FDCWD) {
		dir = BPF_CORE_READ(t, fs, pwd.dentry);
	} else {
		struct file *f = fd_file(t, dfd);
		if (!f)
			goto out;
		dir = BPF_CORE_READ(f, f_path.dentry);
	}
	if (!dir || !bpf_core_field_exists(dir->d_children))
		goto out; /* < 6.8: not resolved */
	struct res_ctx *c = &s->res;
	c->dir = (u64)dir;
	c->node = 0;
	c->sib_off = bpf_core_field_offset(struct dentry, d_sib);
	c->pos = 0;
	c->end = 0;
	c->after = 0;
	c->total = (u32)(n - 1);
	c->phase = 0;
	c->state = ROAR_TGT_UNKNOWN;
	bpf_loop(SCAN_LIMIT, res_step, 0, 0);
	s = scratch_get();
	if (s)
		state = s->res.state;
out:
	bpf_map_update_elem(&inflight, &tid, &state, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_enter_rename")
int enter_rename(struct sys_enter_ctx *ctx)
{
	return rename_enter(AT_FDCWD, (const char *)ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_renameat")
int enter_renameat(struct sys_enter_ctx *ctx)
{
	return rename_enter((int)ctx->args[2], (const char *)ctx->args[3]);
}

SEC("tp/syscalls/sys_enter_renameat2")
int enter_renameat2(struct sys_enter_ctx *ctx)
{
	return rename_enter((int)ctx->args[2], (const char *)ctx->args[3]);
}

static __always_inline int rename_exit(long ret, int odfd, const char *op, int ndfd,
				       const char *np, u32 flags)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 jid;
	u32 state = ROAR_TGT_UNKNOWN;
	u32 *st = bpf_map_lookup_elem(&inflight, &tid);
	if (st) {
		state = *st;
		bpf_map_delete_elem(&inflight, &tid);
	}
	struct roar_job *job = job_of(tid, &jid);
	if (!job || ret < 0)
		return 0;
	bump_kepoch(job);
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_RENAME, jid);
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	u32 off = 0;
	if (name_operand(t, odfd, op, &off, 0))
		return 0;
	if (name_operand(t, ndfd, np, &off, 2))
		return 0;
	s->h.ret = ret;
	s->h.a0 = flags;
	s->h.a1 = state;
	emit(s, off, job, 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_rename")
int exit_rename(struct sys_exit_ctx *ctx)
{
	struct pt_regs *r = uregs();
	return rename_exit(ctx->ret, AT_FDCWD, (const char *)ARG1(r), AT_FDCWD,
			   (const char *)ARG2(r), 0);
}

SEC("tp/syscalls/sys_exit_renameat")
int exit_renameat(struct sys_exit_ctx *ctx)
{
	struct pt_regs *r = uregs();
	return rename_exit(ctx->ret, (int)ARG1(r), (const char *)ARG2(r), (int)ARG3(r),
			   (const char *)ARG4(r), 0);
}

SEC("tp/syscalls/sys_exit_renameat2")
int exit_renameat2(struct sys_exit_ctx *ctx)
{
	struct pt_regs *r = uregs();
	return rename_exit(ctx->ret, (int)ARG1(r), (const char *)ARG2(r), (int)ARG3(r),
			   (const char *)ARG4(r), (u32)ARG5(r));
}

/* ---- fd operations ---- */

static __always_inline int is_reg(struct file *f)
{
	return f && (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) == S_IFREG;
}

SEC("tp/syscalls/sys_exit_ftruncate")
int exit_ftruncate(struct sys_exit_ctx *ctx)
{
	u32 jid;
	struct roar_job *job = cur_job(&jid);
	if (!job || ctx->ret < 0)
		return 0;
	struct pt_regs *r = uregs();
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file *f = fd_file(t, (int)ARG1(r));
	if (!f)
		return 0;
	struct dedup_key k = {
		.job = jid,
		.uepoch = uepoch(jid),
		.kepoch = job->kepoch,
		.kind = ROAR_EV_FTRUNCATE,
		.a = (u64)BPF_CORE_READ(f, f_path.dentry),
		.b = (u64)BPF_CORE_READ(f, f_path.mnt),
	};
	if (bpf_map_lookup_elem(&dedup, &k))
		return 0;
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_FTRUNCATE, jid);
	u32 off = 0;
	if (walk_file(t, f, &off, 0))
		return 0;
	if (emit(s, off, job, 0) == 0) {
		u8 one = 1;
		bpf_map_update_elem(&dedup, &k, &one, BPF_ANY);
	}
	return 0;
}

static __always_inline int copy_exit(struct roar_job *job, u32 jid, long ret, int in_fd,
				     int out_fd)
{
	if (ret < 0)
		return 0;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file *in = fd_file(t, in_fd);
	struct file *out = fd_file(t, out_fd);
	if (!is_reg(in))
		in = 0;
	if (!is_reg(out))
		out = 0;
	if (!in && !out)
		return 0;
	struct dedup_key k = {
		.job = jid,
		.uepoch = uepoch(jid),
		.kepoch = job->kepoch,
		.kind = ROAR_EV_COPY,
		.a = (u64)in,
		.b = (u64)out,
		.c = in ? (u64)BPF_CORE_READ(in, f_path.dentry) : 0,
		.d = out ? (u64)BPF_CORE_READ(out, f_path.dentry) : 0,
	};
	if (bpf_map_lookup_elem(&dedup, &k))
		return 0;
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_COPY, jid);
	u32 off = 0;
	if (in && walk_file(t, in, &off, 0))
		return 0;
	if (out && walk_file(t, out, &off, 1))
		return 0;
	s->h.ret = ret;
	if (emit(s, off, job, 0) == 0) {
		u8 one = 1;
		bpf_map_update_elem(&dedup, &k, &one, BPF_ANY);
	}
	return 0;
}

SEC("tp/syscalls/sys_exit_copy_file_range")
int exit_copy_file_range(struct sys_exit_ctx *ctx)
{
	TRACKED();
	struct pt_regs *r = uregs();
	return copy_exit(job, jid, ctx->ret, (int)ARG1(r), (int)ARG3(r));
}

SEC("tp/syscalls/sys_exit_sendfile64")
int exit_sendfile64(struct sys_exit_ctx *ctx)
{
	TRACKED();
	struct pt_regs *r = uregs();
	return copy_exit(job, jid, ctx->ret, (int)ARG2(r), (int)ARG1(r));
}

SEC("tp/syscalls/sys_exit_io_uring_setup")
int exit_io_uring_setup(struct sys_exit_ctx *ctx)
{
	u32 jid;
	struct roar_job *job = cur_job(&jid);
	if (!job)
		return 0;
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_IOURING, jid);
	s->h.ret = ctx->ret;
	emit(s, 0, job, 0);
	return 0;
}

/* ---- processes ---- */

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 ptid = BPF_CORE_READ(parent, pid);
	u32 jid;
	struct roar_job *job = job_of(ptid, &jid);
	if (!job)
		return 0;
	u32 ctid = BPF_CORE_READ(child, pid);
	if (bpf_map_update_elem(&pids, &ctid, &jid, BPF_ANY)) {
		count_drop(job); /* pids map full: this task goes untraced */
		return 0;
	}
	__sync_fetch_and_add(&job->live, 1);
	if (BPF_CORE_READ(child, tgid) != (pid_t)ctid)
		return 0; /* a thread */
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_FORK, jid);
	s->h.a0 = ctid;
	s->h.a1 = BPF_CORE_READ(child, real_parent, tgid);
	emit(s, 0, job, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	u32 tid = BPF_CORE_READ(p, pid);
	u32 old = (u32)old_pid;
	u32 jid;
	struct roar_job *job = job_of(old, &jid);
	if (!job)
		return 0;
	if (old != tid) {
		/* A non-leader thread exec'd: it now has the leader's pid. */
		bpf_map_update_elem(&pids, &tid, &jid, BPF_ANY);
		bpf_map_delete_elem(&pids, &old);
	}
	struct scratch *s = scratch_get();
	if (!s)
		return 0;
	ev_init(s, ROAR_EV_EXEC, jid);
	u32 off = 0;
	struct file *f = BPF_CORE_READ(bprm, file);
	if (walk_file(p, f, &off, 0))
		s->h.sec[0] = ROAR_SEC_NONE;
	const char *fname = BPF_CORE_READ(bprm, filename);
	const char *interp = BPF_CORE_READ(bprm, interp);
	if (fname != interp) {
		/* a script (#!): its name as given, and the cwd for a relative one */
		long n = bpf_probe_read_kernel_str(&s->data[off & DATA_MASK], USTR_MAX, fname);
		if (n > 0) {
			s->h.sec[1] = (u16)(n - 1);
			u8 first = s->data[off & DATA_MASK];
			off += (u32)(n - 1);
			if (first != '/' && off < DATA_MASK - WALK_LIMIT - NAME_Z &&
			    walk(p, BPF_CORE_READ(p, fs, pwd.dentry), BPF_CORE_READ(p, fs, pwd.mnt),
				 &off, 2))
				s->h.sec[2] = ROAR_SEC_NONE;
		}
	}
	unsigned long as = BPF_CORE_READ(p, mm, arg_start);
	unsigned long ae = BPF_CORE_READ(p, mm, arg_end);
	u64 alen = ae > as ? ae - as : 0;
	if (alen > USTR_MAX - 1)
		alen = USTR_MAX - 1;
	asm volatile("%0 &= 0xfff" : "+r"(alen));
	if (alen && off <= DATA_MASK &&
	    bpf_probe_read_user(&s->data[off & DATA_MASK], alen, (void *)as) == 0) {
		s->h.sec[3] = (u16)alen;
		off += (u32)alen;
	}
	emit(s, off, job, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	u32 tid = BPF_CORE_READ(p, pid);
	u32 *j = bpf_map_lookup_elem(&pids, &tid);
	if (!j)
		return 0;
	u32 jid = *j;
	bpf_map_delete_elem(&pids, &tid);
	struct roar_job *job = bpf_map_lookup_elem(&jobs, &jid);
	if (!job)
		return 0; /* the job was cancelled */
	struct scratch *s = scratch_get();
	if (s && BPF_CORE_READ(p, signal, live.counter) == 0) {
		/* the last thread of the process */
		ev_init(s, ROAR_EV_EXIT, jid);
		s->h.pid = BPF_CORE_READ(p, tgid);
		s->h.a0 = (u32)BPF_CORE_READ(p, exit_code);
		emit(s, 0, job, 0);
	}
	if (__sync_fetch_and_add(&job->live, -1) == 1) {
		if (s) {
			ev_init(s, ROAR_EV_DONE, jid);
			emit(s, 0, job, BPF_RB_FORCE_WAKEUP);
		}
		__sync_fetch_and_add(&job->done, 1);
	}
	return 0;
}
