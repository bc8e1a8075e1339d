/*
 * trapline bench reference: the same ptrace work the Python core does,
 * written in plain C, so the bench can show what the kernel itself costs.
 * Built by the system cc at bench time (harness/bench/reference.py).
 *
 *   reference steps N        fork a child that PTRACE_TRACEMEs, stops, then
 *                            loops; single-step it N times.
 *   reference breakpoints N  the child loops calling getppid(); an armed
 *                            breakpoint at getppid is hit N times, each hit
 *                            handled as a debugger would: rewind the PC
 *                            (where the arch reports it past the trap),
 *                            restore the original bytes, single-step, re-arm,
 *                            continue.
 *
 * Prints one JSON line: {"what": ..., "count": N, "seconds": S, "arch": ...}
 * or, where this arch has no breakpoint code here,
 * {"what": ..., "unavailable": "n/a on <arch>..."}; steps are n/a where
 * the kernel has no PTRACE_SINGLESTEP.  Exits 1 with a message on
 * stderr when a ptrace or wait call does something unexpected.
 *
 * Linux only (the host's kernel).  Facts used, per arch:
 *   x86_64:  int3 is 0xcc; after the trap the kernel reports rip one past it
 *            (linux v6.1 arch/x86/kernel/traps.c, do_int3_user);
 *            PTRACE_GETREGS/SETREGS with struct user_regs_struct
 *            (glibc sys/user.h).
 *   aarch64: brk #0 is 0xd4200000; the kernel reports pc on the brk itself
 *            (linux v6.1 arch/arm64/kernel/debug-monitors.c, brk_handler);
 *            no PTRACE_GETREGS, registers via PTRACE_GETREGSET NT_PRSTATUS
 *            with struct user_pt_regs (linux v6.1
 *            arch/arm64/include/uapi/asm/ptrace.h).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_NAME "x86_64"
#define HAVE_BREAKPOINTS 1
#elif defined(__aarch64__)
#include <asm/ptrace.h>
#define ARCH_NAME "aarch64"
#define HAVE_BREAKPOINTS 1
#elif defined(__sparc__) && defined(__arch64__)
#define ARCH_NAME "sparc64"
#define HAVE_BREAKPOINTS 1
#else
#define ARCH_NAME "this arch"
#define HAVE_BREAKPOINTS 0
#endif

/* Volatile so the compiler keeps every getppid() call in the child's loop. */
static volatile pid_t sink;

static void die(const char *what)
{
	fprintf(stderr, "reference: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void expect_trap(pid_t pid, const char *after)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
		fprintf(stderr, "reference: after %s: wait status 0x%x, not a SIGTRAP stop\n",
			after, status);
		exit(1);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A traced child, stopped (SIGSTOP) before its getppid loop. */
static pid_t start_child(void)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0)
			_exit(126);
		raise(SIGSTOP);
		for (;;)
			sink = getppid();
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid");
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		fprintf(stderr, "reference: child's first stop is 0x%x, not SIGSTOP\n", status);
		exit(1);
	}
	/* The child must not outlive us if we die mid-run. */
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_EXITKILL) != 0)
		die("PTRACE_SETOPTIONS");
	return pid;
}

static void end_child(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

/*
 * 0 with *seconds set, or -1 when this kernel has no PTRACE_SINGLESTEP
 * (EIO from ptrace_resume() where arch_has_single_step() is false, e.g.
 * sparc64: linux v6.1 kernel/ptrace.c).
 */
static int run_steps(long count, double *seconds)
{
	pid_t pid = start_child();
	double start = now();

	for (long i = 0; i < count; i++) {
		if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0) {
			if (i == 0 && errno == EIO) {
				end_child(pid);
				return -1;
			}
			die("PTRACE_SINGLESTEP");
		}
		expect_trap(pid, "PTRACE_SINGLESTEP");
	}
	*seconds = now() - start;
	end_child(pid);
	return 0;
}

#if HAVE_BREAKPOINTS
#if defined(__x86_64__)
/* int3 in the word's first (lowest-addressed, little-endian) byte. */
static long armed_word(long original)
{
	return (original & ~0xffL) | 0xcc;
}

/* Check the trap is ours and leave the PC on the breakpoint address. */
static void rewind_pc(pid_t pid, uintptr_t addr)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) != 0)
		die("PTRACE_GETREGS");
	if (regs.rip - 1 != addr) {
		fprintf(stderr, "reference: trap at rip 0x%llx, breakpoint at 0x%lx\n",
			(unsigned long long)regs.rip, (unsigned long)addr);
		exit(1);
	}
	regs.rip = addr;
	if (ptrace(PTRACE_SETREGS, pid, NULL, &regs) != 0)
		die("PTRACE_SETREGS");
}
#elif defined(__aarch64__)
/* brk #0 as the word's first 4 bytes (little-endian). */
static long armed_word(long original)
{
	return (long)(((unsigned long)original & ~0xffffffffUL) | 0xd4200000UL);
}

/* The kernel leaves pc on the brk: only check the trap is ours. */
static void rewind_pc(pid_t pid, uintptr_t addr)
{
	struct user_pt_regs regs;
	struct iovec iov = { &regs, sizeof(regs) };

	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov) != 0)
		die("PTRACE_GETREGSET");
	if (regs.pc != addr) {
		fprintf(stderr, "reference: trap at pc 0x%llx, breakpoint at 0x%lx\n",
			(unsigned long long)regs.pc, (unsigned long)addr);
		exit(1);
	}
}
#elif defined(__sparc__) && defined(__arch64__)
/*
 * ta 1 (0x91d02001), Linux sparc64's breakpoint trap, as the first 4 bytes
 * of the word at the address: big-endian, so its high half.  The word need
 * not be 8-byte aligned (glibc's getppid sits at 4 mod 8): PEEKTEXT and
 * POKETEXT go through access_process_vm(), which takes any address.
 * sparc_breakpoint (arch/sparc/kernel/sys_sparc_64.c, linux v6.1) leaves
 * TPC on the ta, so there is no PC to rewind; the SIGTRAP check is all.
 */
#define TA_1 0x91d02001UL

static long armed_word(long original)
{
	return (long)(((unsigned long)original & 0xffffffffUL) | (TA_1 << 32));
}

static void rewind_pc(pid_t pid, uintptr_t addr)
{
	(void)pid;
	(void)addr;
}
#endif

static void poke(pid_t pid, uintptr_t addr, long word);

/*
 * Run the original instruction at the breakpoint address and stop after it.
 * sparc64 has no PTRACE_SINGLESTEP: trap at the next instruction instead
 * (the low half of the word at the address), as the core's software step
 * does.
 * getppid's first instruction is no branch, so the next one is addr + 4.
 */
static void step_over(pid_t pid, uintptr_t addr, long original)
{
#if defined(__sparc__) && defined(__arch64__)
	poke(pid, addr, (long)(((unsigned long)original & ~0xffffffffUL) | TA_1));
	if (ptrace(PTRACE_CONT, pid, NULL, NULL) != 0)
		die("PTRACE_CONT");
#else
	(void)addr;
	(void)original;
	if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0)
		die("PTRACE_SINGLESTEP");
#endif
	expect_trap(pid, "the step over the breakpoint");
}

static void poke(pid_t pid, uintptr_t addr, long word)
{
	if (ptrace(PTRACE_POKETEXT, pid, (void *)addr, (void *)word) != 0)
		die("PTRACE_POKETEXT");
}

static double run_breakpoints(long count)
{
	/* The child is a fork of us, not an exec: libc sits at the same address. */
	uintptr_t addr = (uintptr_t)&getppid;
	pid_t pid = start_child();

	errno = 0;
	long original = ptrace(PTRACE_PEEKTEXT, pid, (void *)addr, NULL);
	if (errno != 0)
		die("PTRACE_PEEKTEXT");
	long armed = armed_word(original);
	poke(pid, addr, armed);

	double start = now();
	if (ptrace(PTRACE_CONT, pid, NULL, NULL) != 0)
		die("PTRACE_CONT");
	for (long hits = 0; hits < count; hits++) {
		expect_trap(pid, "PTRACE_CONT onto the breakpoint");
		rewind_pc(pid, addr);
		poke(pid, addr, original);
		step_over(pid, addr, original);
		poke(pid, addr, armed);
		if (ptrace(PTRACE_CONT, pid, NULL, NULL) != 0)
			die("PTRACE_CONT");
	}
	double seconds = now() - start;
	end_child(pid);
	return seconds;
}
#endif

int main(int argc, char **argv)
{
	char *end;
	long count;

	if (argc != 3 || (strcmp(argv[1], "steps") != 0 && strcmp(argv[1], "breakpoints") != 0)) {
		fprintf(stderr, "usage: %s steps|breakpoints COUNT\n", argv[0]);
		return 2;
	}
	count = strtol(argv[2], &end, 10);
	if (*end != '\0' || count <= 0) {
		fprintf(stderr, "reference: COUNT must be a positive integer, not '%s'\n", argv[2]);
		return 2;
	}
	if (strcmp(argv[1], "steps") == 0) {
		double seconds;

		if (run_steps(count, &seconds) != 0) {
			printf("{\"what\": \"steps\", \"unavailable\": \"n/a on %s: no PTRACE_SINGLESTEP\"}\n",
			       ARCH_NAME);
			return 0;
		}
		printf("{\"what\": \"steps\", \"count\": %ld, \"seconds\": %.9f, \"arch\": \"%s\"}\n",
		       count, seconds, ARCH_NAME);
		return 0;
	}
#if HAVE_BREAKPOINTS
	double seconds = run_breakpoints(count);
	printf("{\"what\": \"breakpoints\", \"count\": %ld, \"seconds\": %.9f, \"arch\": \"%s\"}\n",
	       count, seconds, ARCH_NAME);
#else
	printf("{\"what\": \"breakpoints\", \"unavailable\": \"n/a on %s\"}\n", ARCH_NAME);
#endif
	return 0;
}
