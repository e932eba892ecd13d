#ifndef TALLY_CSYSTEM_H
#define TALLY_CSYSTEM_H
// Linux system calls that Glibc does not expose to Swift (epoll, eventfd, timerfd, signalfd,
// accept4), plus static inline wrappers for macros and variadic calls. Declarations only, no logic.
// _GNU_SOURCE is deliberately not defined: it changes glibc's fd_set definition and then clashes
// with the Glibc module; the two GNU functions needed are declared below instead.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int csystem_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
static inline int csystem_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
static inline int csystem_open_readonly(const char *path) { return open(path, O_RDONLY | O_CLOEXEC); }

#endif
