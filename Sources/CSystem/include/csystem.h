#ifndef TALLY_CSYSTEM_H
#define TALLY_CSYSTEM_H
// Linux system calls that Glibc does not expose to Swift (epoll, eventfd, timerfd, accept4),
// plus static inline wrappers for macros and variadic calls. Declarations only, no logic.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static inline int csystem_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int csystem_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }

#endif
