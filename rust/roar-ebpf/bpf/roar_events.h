/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Records the BPF programs put on the ring buffer. Mirrored by
 * src/events.rs (keep both in sync; the service forwards records verbatim
 * to its client, which decodes them).
 *
 * A record is `struct roar_ev` followed by up to four variable-length
 * sections, packed in order; sec[i] is the byte length of section i, or
 * ROAR_SEC_NONE when absent (it then takes no space). Sections are:
 *   walk: a path found by walking dentries from a file/dir up to the
 *         task's root, crossing mounts: its components leaf first, each
 *         NUL-terminated ("c\0b\0a\0" = /a/b/c; empty = "/").
 *   str:  a string (user path as given, exec filename), no NUL.
 *   argv: the argument area of the new program, NUL-separated.
 */
#ifndef ROAR_EVENTS_H
#define ROAR_EVENTS_H

#define ROAR_EV_OPEN 1      /* s0 walk(opened file); a0 flags, a1 f_mode, a2 i_mode, x0 mtime ns */
#define ROAR_EV_RENAME 2    /* s0 str old, s1 walk base old, s2 str new, s3 walk base new; a0 flags, a1 target state */
#define ROAR_EV_UNLINK 3    /* s0 str, s1 walk base (none when s0 is absolute) */
#define ROAR_EV_RMDIR 4     /* same */
#define ROAR_EV_MKDIR 5     /* same */
#define ROAR_EV_LINK 6      /* same (the new name) */
#define ROAR_EV_SYMLINK 7   /* same (the link's name) */
#define ROAR_EV_TRUNCATE 8  /* same (truncate(path)) */
#define ROAR_EV_FTRUNCATE 9 /* s0 walk(file) */
#define ROAR_EV_COPY 10     /* s0 walk(source) or none, s1 walk(destination) or none */
#define ROAR_EV_EXEC 11     /* s0 walk(binary run), s1 str filename (scripts only), s2 walk cwd (relative scripts), s3 argv */
#define ROAR_EV_FORK 12     /* a0 child pid, a1 its parent's tgid */
#define ROAR_EV_EXIT 13     /* pid exited (last thread); a0 exit_code (wait status) */
#define ROAR_EV_DONE 14     /* the job's last task exited */
#define ROAR_EV_IOURING 15  /* io_uring_setup was called; ret = its result */

#define ROAR_SEC_NONE 0xffff

/* rename: did the target exist at syscall entry (a1)? */
#define ROAR_TGT_UNKNOWN 0
#define ROAR_TGT_EXISTS 1
#define ROAR_TGT_NEGATIVE 2 /* a negative dentry: looked up, absent */
#define ROAR_TGT_ABSENT 3   /* not in the (complete) dcache listing */

struct roar_ev {
	__u16 kind;
	__u16 reserved;
	__u32 job;
	__u32 pid; /* tgid */
	__u32 tid;
	__s64 ret;
	__u32 a0, a1, a2, a3;
	__s64 x0;
	__u16 sec[4];
};

/* Per-job state shared with user space (map "jobs"). */
struct roar_job {
	__s64 live;   /* tasks of the job alive */
	__u64 drops;  /* records lost (ring full) */
	__u64 kepoch; /* bumped by name operations (dedup generation) */
	__u64 done;   /* the DONE record was emitted (or could not be) */
};

#endif
