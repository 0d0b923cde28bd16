/*
 * benchhttpd: the HTTP server of scripts/bench-probes.sh's pods. One
 * process, no fork per connection (busybox httpd forks one per request,
 * and at 250 pods with a probe a second those forks, not the prober, were
 * what saturated the test host). It answers every request on the port
 * given with "200 OK", body "ok", and closes the connection.
 *
 *   benchhttpd PORT
 *
 * Built static by scripts/bench-probes.sh and bind-mounted (hostPath)
 * into the benchmark's busybox pods. SIGTERM ends it at once (it runs as
 * PID 1 of its container, which ignores signals without a handler).
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void on_term(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: benchhttpd PORT\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) {
		perror("benchhttpd: listen");
		return 1;
	}
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = {.tv_sec = 1};
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[4096];
		size_t got = 0;
		for (;;) { /* read the request head */
			ssize_t n = read(c, buf + got, sizeof buf - 1 - got);
			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = 0;
			if (strstr(buf, "\r\n\r\n") || got == sizeof buf - 1)
				break;
		}
		if (got > 0)
			(void)!write(c, resp, sizeof resp - 1);
		close(c);
	}
}
