// SPDX-License-Identifier: MIT
/*
 * The worker's seccomp filter: an allowlist of what the NVIDIA driver and
 * the worker call (see sandbox.h).  Everything else is refused: with a
 * chosen errno where the driver may try it and cope (starting a process such
 * as nvidia-modprobe, an internet socket), else through SIGSYS, whose handler
 * names the call once on stderr and makes it fail with ENOSYS.  Refused,
 * not fatal: the first GPU run of the filter ended every worker at a symlink
 * the real driver makes as it initialises, which no test double showed; a
 * call the driver needs and the list lacks now shows as that line and as
 * the driver's own error, and the call still does not happen (compare with
 * --no-seccomp).
 *
 * Arguments are checked where a call could reach another process: signals
 * only to this process, clone only for threads, prlimit and scheduler calls
 * only on this process, prctl without the calls that would undo the
 * sandbox.  io_uring is not allowed (its operations would bypass the filter).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sandbox.h"

#if defined(__x86_64__)
#define FILTER_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH	AUDIT_ARCH_AARCH64
#else
#error "no seccomp filter for this architecture"
#endif

/* Calls the worker may make with any arguments. */
static const int allowed[] = {
	/* memory */
	SYS_brk, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_msync,
	SYS_mincore, SYS_mlock, SYS_munlock, SYS_mlock2, SYS_mbind, SYS_get_mempolicy,
	SYS_set_mempolicy, SYS_membarrier, SYS_memfd_create,
	/* files (the driver's device nodes, its libraries, the module cache) */
	SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_preadv,
	SYS_pwritev, SYS_close, SYS_close_range, SYS_openat, SYS_newfstatat, SYS_fstat, SYS_statx,
	SYS_faccessat, SYS_faccessat2, SYS_lseek, SYS_ioctl, SYS_fcntl, SYS_flock, SYS_fsync,
	SYS_fdatasync, SYS_ftruncate, SYS_fallocate, SYS_getdents64, SYS_getcwd, SYS_readlinkat,
	SYS_unlinkat, SYS_renameat, SYS_renameat2, SYS_mkdirat, SYS_utimensat, SYS_dup, SYS_dup3,
	SYS_pipe2, SYS_copy_file_range, SYS_fadvise64, SYS_statfs, SYS_fstatfs, SYS_fchmod,
	SYS_fchmodat, SYS_umask,
	/* links: the driver makes a symlink as it initialises (seen on an H200, driver 580) */
	SYS_symlinkat, SYS_linkat,
	/* waiting */
	SYS_ppoll, SYS_pselect6, SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait,
	SYS_epoll_pwait2, SYS_eventfd2, SYS_futex, SYS_nanosleep, SYS_clock_nanosleep,
	SYS_sched_yield, SYS_timerfd_create, SYS_timerfd_settime, SYS_timerfd_gettime,
	SYS_timer_create, SYS_timer_settime, SYS_timer_gettime, SYS_timer_delete,
	SYS_timer_getoverrun, SYS_signalfd4, SYS_restart_syscall,
	/*
	 * sockets already open or of the allowed families (socket() is checked
	 * below); the driver binds a unix socket as it initialises (H200, 580)
	 */
	SYS_socketpair, SYS_connect, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg,
	SYS_shutdown, SYS_getsockopt, SYS_setsockopt, SYS_getsockname, SYS_getpeername,
	SYS_bind, SYS_listen, SYS_accept, SYS_accept4,
	/* signals and threads of this process */
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_rt_sigtimedwait,
	SYS_rt_sigpending, SYS_rt_sigsuspend, SYS_sigaltstack, SYS_set_robust_list,
	SYS_get_robust_list, SYS_set_tid_address, SYS_rseq, SYS_exit, SYS_exit_group,
	SYS_sched_getaffinity, SYS_sched_getparam, SYS_sched_getscheduler,
	SYS_sched_get_priority_max, SYS_sched_get_priority_min,
	/* who and when */
	SYS_getpid, SYS_getppid, SYS_gettid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_getresuid, SYS_getresgid, SYS_getgroups, SYS_getpgid, SYS_getsid, SYS_uname,
	SYS_sysinfo, SYS_getrusage, SYS_times, SYS_getrandom, SYS_clock_gettime, SYS_clock_getres,
	SYS_gettimeofday, SYS_getpriority, SYS_capget, SYS_getcpu, SYS_sched_getattr,
#ifdef SYS_arch_prctl
	SYS_arch_prctl,
#endif
#ifdef SYS_open
	/* the older forms x86-64 still has and glibc or the driver may use */
	SYS_open, SYS_stat, SYS_lstat, SYS_access, SYS_readlink, SYS_unlink, SYS_rename,
	SYS_mkdir, SYS_rmdir, SYS_symlink, SYS_link, SYS_chmod, SYS_dup2, SYS_pipe, SYS_poll, SYS_select,
	SYS_epoll_create, SYS_epoll_wait,
	SYS_eventfd, SYS_getdents, SYS_time, SYS_getpgrp, SYS_getrlimit,
#endif
};

/* Calls that fail with an errno: the driver may try them and must cope. */
static const int refused[] = {
	SYS_execve, SYS_execveat, SYS_wait4, SYS_waitid,
#ifdef SYS_fork
	SYS_fork, SYS_vfork,
#endif
};

#define ARG_LO(i)	(offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i)	(ARG_LO(i) + 4)
#define RET(v)		BPF_STMT(BPF_RET | BPF_K, (v))
#define ERRNO(e)	(SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define MAX_PROG	512

struct prog {
	struct sock_filter f[MAX_PROG];
	unsigned short n;
};

static void emit(struct prog *p, struct sock_filter ins)
{
	if (p->n < MAX_PROG)
		p->f[p->n] = ins;
	p->n++;
}

static void load_nr(struct prog *p)
{
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					     offsetof(struct seccomp_data, nr)));
}

/* if (nr == @nr) return @action; */
static void nr_is(struct prog *p, int nr, uint32_t action)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1));
	emit(p, (struct sock_filter)RET(action));
}

/*
 * if (nr == @nr) return (arg@i == @v) ? ALLOW : @otherwise;  (the whole
 * 64 bits compared).  Leaves the call number loaded.
 */
static void nr_arg_is(struct prog *p, int nr, int i, uint64_t v, uint32_t otherwise)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 6));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(i)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(v >> 32), 0, 3));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)v, 0, 1));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
	emit(p, (struct sock_filter)RET(otherwise));
}

/* if (nr == @nr) return (arg@i == @a || arg@i == @b) ? ALLOW : @otherwise; (low 32 bits). */
static void nr_arg_in(struct prog *p, int nr, int i, uint32_t a, uint32_t b, uint32_t otherwise)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 5));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, a, 2, 0));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, b, 1, 0));
	emit(p, (struct sock_filter)RET(otherwise));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
}

/* if (nr == @nr) return (arg@i & @bits) == @bits ? ALLOW : @otherwise; (low 32 bits). */
static void nr_arg_has(struct prog *p, int nr, int i, uint32_t bits, uint32_t otherwise)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 5));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i)));
	emit(p, (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, bits));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bits, 1, 0));
	emit(p, (struct sock_filter)RET(otherwise));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
}

/* if (nr == @nr) return arg@i (low 32 bits) is one of @bad ? @otherwise : ALLOW; */
static void nr_arg_not(struct prog *p, int nr, int i, const uint32_t *bad, int nbad,
		       uint32_t otherwise)
{
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0,
					     (uint8_t)(nbad + 3)));
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(i)));
	for (int k = 0; k < nbad; k++)
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, bad[k],
						     (uint8_t)(nbad - k), 0));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_ALLOW));
	emit(p, (struct sock_filter)RET(otherwise));
}

static void build(struct prog *p, pid_t self)
{
	static const uint32_t bad_prctl[] = {
		PR_SET_DUMPABLE, PR_SET_PTRACER, PR_SET_SECCOMP, PR_SET_MM, PR_CAP_AMBIENT,
		PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS,
	};

	p->n = 0;
	/* Another ABI (x32, a 32-bit entry) is not what the list was written for. */
	emit(p, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					     offsetof(struct seccomp_data, arch)));
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
	load_nr(p);
#if defined(__x86_64__)
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_KILL_PROCESS));
#endif
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		nr_is(p, allowed[i], SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		nr_is(p, refused[i], ERRNO(EPERM));
	/* glibc falls back from clone3 (whose flags a filter cannot read) to clone. */
	nr_is(p, SYS_clone3, ERRNO(ENOSYS));
	nr_arg_has(p, SYS_clone, 0, CLONE_THREAD | CLONE_VM, ERRNO(EPERM));
	load_nr(p);
	nr_arg_in(p, SYS_socket, 0, AF_UNIX, AF_NETLINK, ERRNO(EAFNOSUPPORT));
	load_nr(p);
	nr_arg_is(p, SYS_kill, 0, (uint64_t)self, ERRNO(EPERM));
	load_nr(p);
	nr_arg_is(p, SYS_tgkill, 0, (uint64_t)self, ERRNO(EPERM));
	load_nr(p);
	nr_arg_is(p, SYS_prlimit64, 0, 0, ERRNO(EPERM));
	load_nr(p);
	nr_arg_is(p, SYS_sched_setaffinity, 0, 0, ERRNO(EPERM));
	load_nr(p);
	nr_arg_is(p, SYS_setpriority, 1, 0, ERRNO(EPERM));
	load_nr(p);
	nr_arg_not(p, SYS_prctl, 0, bad_prctl, (int)(sizeof(bad_prctl) / sizeof(bad_prctl[0])),
		   ERRNO(EPERM));
	emit(p, (struct sock_filter)RET(SECCOMP_RET_TRAP));
}

/* Call numbers already named on stderr: each is named once. */
static volatile sig_atomic_t named[1024];

/*
 * A call outside the list: name it (once) and make it fail with ENOSYS, as
 * a kernel without the call would, by setting the return register the
 * trapped call resumes with.
 */
static void on_sigsys(int sig, siginfo_t *si, void *uc_v)
{
	const int max = (int)(sizeof(named) / sizeof(named[0]));
	ucontext_t *uc = uc_v;
	int nr = si->si_syscall;
	char msg[128];
	int n;

	(void)sig;
	if (nr < 0 || nr >= max || !named[nr]) {
		if (nr >= 0 && nr < max)
			named[nr] = 1;
		n = snprintf(msg, sizeof(msg),
			     "vgpu-executor: worker %d: system call %d is not allowed (seccomp): "
			     "refused with ENOSYS\n", (int)getpid(), nr);
		if (n > 0 && write(STDERR_FILENO, msg, (size_t)n) < 0)
			n = 0;	/* nowhere to say it; the call is refused all the same */
	}
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -ENOSYS;
#elif defined(__aarch64__)
	uc->uc_mcontext.regs[0] = (unsigned long long)-ENOSYS;
#endif
}

int vgpu_sandbox_seccomp(char *err, size_t err_len)
{
	static struct prog p;
	struct sock_fprog fp;
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	build(&p, getpid());
	if (p.n > MAX_PROG) {
		snprintf(err, err_len, "seccomp filter: %u instructions, room for %d", p.n, MAX_PROG);
		return -1;
	}
	fp.len = p.n;
	fp.filter = p.f;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL)) {
		snprintf(err, err_len, "SIGSYS handler: %s", strerror(errno));
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		snprintf(err, err_len, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fp)) {
		snprintf(err, err_len, "seccomp: %s", strerror(errno));
		return -1;
	}
	return 0;
}
