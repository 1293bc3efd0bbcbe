/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types roar.bpf.c reads, instead of a 2.8 MB vmlinux.h.
 * Every struct is `preserve_access_index`: clang emits CO-RE relocations by
 * field *name*, and the loader fixes the offsets against the running
 * kernel's BTF (/sys/kernel/btf/vmlinux). Only the fields used are listed;
 * their order and the struct sizes here do not matter.
 */
#ifndef ROAR_KERN_H
#define ROAR_KERN_H

#include <linux/types.h>
#include <linux/bpf.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef int pid_t;
typedef unsigned short umode_t;
typedef _Bool bool;
#define true 1
#define false 0

#define PAI __attribute__((preserve_access_index))

struct hlist_node {
	struct hlist_node *next;
	struct hlist_node **pprev;
} PAI;

struct hlist_head {
	struct hlist_node *first;
} PAI;

struct list_head {
	struct list_head *next;
	struct list_head *prev;
} PAI;

struct qstr {
	union {
		struct {
			u32 hash;
			u32 len;
		};
		u64 hash_len;
	};
	const unsigned char *name;
} PAI;

struct inode;
struct super_block;
struct mnt_namespace;

struct dentry {
	unsigned int d_flags;
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
	struct hlist_node d_sib;      /* >= 6.8 */
	struct hlist_head d_children; /* >= 6.8 */
} PAI;

/* < 6.8: children on a list_head */
struct dentry___old {
	struct list_head d_child;
	struct list_head d_subdirs;
} PAI;

/* dentry->d_flags bits (an enum since 6.15: found in BTF by CO-RE) */
enum dentry_flags {
	DCACHE_MOUNTED = 32768,
};

struct timespec64 {
	s64 tv_sec;
	long tv_nsec;
} PAI;

struct inode {
	umode_t i_mode;
	unsigned long i_ino;
	struct super_block *i_sb;
	s64 i_mtime_sec; /* >= 6.11 */
	u32 i_mtime_nsec;
} PAI;

struct inode___v66 { /* 6.6 - 6.10 */
	struct timespec64 __i_mtime;
} PAI;

struct inode___v5 { /* < 6.6 */
	struct timespec64 i_mtime;
} PAI;

struct vfsmount {
	struct dentry *mnt_root;
	struct super_block *mnt_sb;
} PAI;

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
	struct mnt_namespace *mnt_ns;
} PAI;

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
} PAI;

struct file {
	struct path f_path;
	struct inode *f_inode;
	unsigned int f_flags;
	unsigned int f_mode;
} PAI;

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} PAI;

struct files_struct {
	struct fdtable *fdt;
} PAI;

struct fs_struct {
	struct path root;
	struct path pwd;
} PAI;

struct nsproxy {
	struct mnt_namespace *mnt_ns;
} PAI;

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t live;
} PAI;

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} PAI;

struct task_struct {
	pid_t pid;
	pid_t tgid;
	int exit_code;
	struct task_struct *real_parent;
	struct files_struct *files;
	struct fs_struct *fs;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct mm_struct *mm;
} PAI;

struct linux_binprm {
	struct file *file;
	const char *filename;
	const char *interp;
} PAI;

/* x86_64 kernel names (bpf_tracing.h's __TARGET_ARCH_x86 macros use them) */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} PAI;

#endif
