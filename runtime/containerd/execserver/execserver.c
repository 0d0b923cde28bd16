/*
 * miniagent-exec: the per-container exec server of miniagent's exec probes.
 *
 * The agent starts one of these in a running container through containerd's
 * exec (so it has exactly what a `runc exec` of that container gets:
 * namespaces, cgroup, user, groups, capabilities, no_new_privs, seccomp,
 * AppArmor, rlimits, environment, working directory) and then asks it, over
 * its stdin and stdout, to run probe commands. Each command is fork+exec'd
 * with the server's own environment, working directory, signal dispositions
 * and mask (those runc gave it), stdin /dev/null, stdout and stderr merged
 * into one pipe. The server keeps the first max_output bytes of the output,
 * SIGKILLs the command (only it) past its timeout and answers with how it
 * ended. It reads requests one at a time.
 *
 * Protocol (integers big-endian):
 *   on start     server -> agent  "MAEX" u32 version (1)
 *   request      agent -> server  u32 len, then len bytes:
 *                                 u32 timeout_ms (0: none), u32 max_output,
 *                                 u32 argc, argc NUL-terminated strings
 *   answer       server -> agent  u32 len, then len bytes:
 *                                 u8 kind, i32 value, output (len-5 bytes)
 *   kinds: 0 exited (value: exit status), 1 killed by a signal (value:
 *   signal), 2 timed out and killed, 3 the command could not be executed
 *   (value: errno), 4 the server could not run it (value: errno).
 * A malformed request ends the server with status 2; end of input with 0.
 *
 * Build: gcc -static -Os -s -o miniagent-exec execserver.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTO_VERSION 1
#define MAX_REQUEST (1u << 20)
#define MAX_ARGS 4096u
#define MAX_OUTPUT (16u << 20)

enum { R_EXITED = 0, R_SIGNALED = 1, R_TIMEOUT = 2, R_EXECFAIL = 3, R_ERROR = 4 };

extern char **environ;

/* What runc gave this process, restored in every command. */
static sigset_t init_mask;
static unsigned char init_ignored[NSIG];

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* read_full: 0 when n bytes were read, 1 on end of input before any, -1 else. */
static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return got == 0 ? 1 : -1;
		got += r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, (const char *)buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += w;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* answer writes one answer; a failed write ends the server (the agent is gone). */
static void answer(int kind, int32_t value, const char *out, uint32_t n)
{
	unsigned char hdr[9];
	put32(hdr, 5 + n);
	hdr[4] = kind;
	put32(hdr + 5, (uint32_t)value);
	if (write_full(1, hdr, sizeof hdr) < 0 || (n > 0 && write_full(1, out, n) < 0))
		_exit(3);
}

static int executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111) &&
	       faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

/*
 * run_command is the child's side: restore what runc gave, wire the stdio,
 * find argv[0] as runc does (Go's exec.LookPath: a name with a slash as is,
 * else the first executable in $PATH, never relative to the working
 * directory) and execve it. On failure the errno goes to errfd.
 */
static void run_command(char **argv, int out, int errfd, pid_t server)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, init_ignored[sig] ? SIG_IGN : SIG_DFL);
	/* The command must not outlive a server that was killed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != server)
		_exit(127);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null >= 0)
		dup2(null, 0);
	else
		close(0);
	dup2(out, 1);
	dup2(out, 2);
	sigprocmask(SIG_SETMASK, &init_mask, NULL);

	int err = ENOENT;
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, environ);
		err = errno;
	} else {
		const char *path = getenv("PATH");
		size_t nlen = strlen(argv[0]);
		while (path && *path) {
			const char *end = strchr(path, ':');
			size_t dlen = end ? (size_t)(end - path) : strlen(path);
			if (dlen > 0 && path[0] == '/' && dlen + nlen + 2 <= 4096) {
				char full[4096];
				memcpy(full, path, dlen);
				full[dlen] = '/';
				memcpy(full + dlen + 1, argv[0], nlen + 1);
				if (executable(full)) {
					execve(full, argv, environ);
					err = errno;
					break;
				}
			}
			if (!end)
				break;
			path = end + 1;
		}
	}
	while (write(errfd, &err, sizeof err) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* keep appends up to the room left in out, discarding the rest. */
static void keep(char *out, uint32_t *kept, uint32_t max, const char *buf, size_t n)
{
	size_t room = max - *kept;
	if (n < room)
		room = n;
	memcpy(out + *kept, buf, room);
	*kept += room;
}

/* drain reads what the pipe holds now; returns 0 on end of input. */
static int drain(int fd, char *out, uint32_t *kept, uint32_t max)
{
	char buf[65536];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0) {
			keep(out, kept, max, buf, r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r == 0 ? 0 : 1;
	}
}

static void finish(pid_t pid, int timed_out, char *out, uint32_t kept)
{
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		answer(R_TIMEOUT, SIGKILL, out, kept);
	else if (WIFSIGNALED(status))
		answer(R_SIGNALED, WTERMSIG(status), out, kept);
	else
		answer(R_EXITED, WEXITSTATUS(status), out, kept);
}

static void serve(char **argv, uint32_t timeout_ms, uint32_t max_output)
{
	char *out = malloc(max_output ? max_output : 1);
	uint32_t kept = 0;
	int pipefd[2], errp[2];
	if (!out) {
		answer(R_ERROR, ENOMEM, NULL, 0);
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;
		free(out);
		answer(R_ERROR, e, NULL, 0);
		return;
	}
	if (pipe2(errp, O_CLOEXEC) < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		free(out);
		answer(R_ERROR, e, NULL, 0);
		return;
	}
	int64_t deadline = now_ms() + timeout_ms;
	pid_t server = getpid();
	pid_t pid = fork();
	if (pid == 0)
		run_command(argv, pipefd[1], errp[1], server);
	int fork_err = errno;
	close(pipefd[1]);
	close(errp[1]);
	if (pid < 0) {
		close(pipefd[0]);
		close(errp[0]);
		free(out);
		answer(R_ERROR, fork_err, NULL, 0);
		return;
	}
	int exec_err;
	ssize_t n;
	while ((n = read(errp[0], &exec_err, sizeof exec_err)) < 0 && errno == EINTR)
		;
	close(errp[0]);
	if (n == sizeof exec_err) {
		close(pipefd[0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		free(out);
		answer(R_EXECFAIL, exec_err, NULL, 0);
		return;
	}
	int pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		int e = errno;
		kill(pid, SIGKILL);
		close(pipefd[0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		free(out);
		answer(R_ERROR, e, NULL, 0);
		return;
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	int open_out = 1, timed_out = 0;
	for (;;) {
		int wait_ms = -1;
		if (timeout_ms) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				timed_out = 1;
				kill(pid, SIGKILL);
				if (open_out)
					drain(pipefd[0], out, &kept, max_output);
				break;
			}
			wait_ms = left > 1000000 ? 1000000 : (int)left;
		}
		struct pollfd fds[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = pipefd[0], .events = POLLIN}};
		int r = poll(fds, open_out ? 2 : 1, wait_ms);
		if (r < 0 && errno != EINTR) {
			kill(pid, SIGKILL);
			break;
		}
		if (r <= 0)
			continue;
		if (open_out && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			open_out = drain(pipefd[0], out, &kept, max_output);
		if (fds[0].revents & POLLIN) {
			/* Exited: what it wrote is in the pipe; later writers (its
			 * background children) are not waited for. */
			if (open_out)
				drain(pipefd[0], out, &kept, max_output);
			break;
		}
	}
	close(pidfd);
	close(pipefd[0]);
	finish(pid, timed_out, out, kept);
	free(out);
}

int main(void)
{
	/* runc passes only stdio; close anything else an unusual parent left. */
	syscall(SYS_close_range, 3, ~0U, 0);
	sigprocmask(SIG_SETMASK, NULL, &init_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			init_ignored[sig] = 1;
	}
	signal(SIGPIPE, SIG_IGN);

	unsigned char hello[8] = {'M', 'A', 'E', 'X'};
	put32(hello + 4, PROTO_VERSION);
	if (write_full(1, hello, sizeof hello) < 0)
		return 3;
	for (;;) {
		unsigned char hdr[4];
		int r = read_full(0, hdr, sizeof hdr);
		if (r == 1)
			return 0;
		if (r < 0)
			return 2;
		uint32_t len = get32(hdr);
		if (len < 12 || len > MAX_REQUEST)
			return 2;
		unsigned char *req = malloc(len + 1);
		if (!req || read_full(0, req, len) != 0)
			return 2;
		req[len] = 0;
		uint32_t timeout_ms = get32(req), max_output = get32(req + 4), argc = get32(req + 8);
		if (argc < 1 || argc > MAX_ARGS || max_output > MAX_OUTPUT)
			return 2;
		char **argv = calloc(argc + 1, sizeof *argv);
		if (!argv)
			return 2;
		unsigned char *p = req + 12, *end = req + len;
		for (uint32_t i = 0; i < argc; i++) {
			unsigned char *nul = memchr(p, 0, end - p);
			if (!nul)
				return 2;
			argv[i] = (char *)p;
			p = nul + 1;
		}
		if (p != end || argv[0][0] == 0)
			return 2;
		serve(argv, timeout_ms, max_output);
		free(argv);
		free(req);
	}
}
