#ifndef TALLY_CHIREDIS_H
#define TALLY_CHIREDIS_H
// hiredis as Tally loads it at run time with dlopen (only for `tally serve --redis`), so the
// default build needs neither its headers nor its library. Declarations only: the struct
// layouts Tally reads or fills, copied from hiredis 0.14 (Debian 12's libhiredis0.14:
// hiredis.h, read.h, async.h), and the types of the functions looked up with dlsym.
#include <stddef.h>
#include <sys/time.h>

#define TALLY_REDIS_OK 0
#define TALLY_REDIS_ERR -1

#define TALLY_REDIS_REPLY_STRING 1
#define TALLY_REDIS_REPLY_ARRAY 2
#define TALLY_REDIS_REPLY_INTEGER 3
#define TALLY_REDIS_REPLY_NIL 4
#define TALLY_REDIS_REPLY_STATUS 5
#define TALLY_REDIS_REPLY_ERROR 6

/// `redisReply` (hiredis.h, 0.14).
typedef struct tally_redisReply {
    int type;
    long long integer;
    size_t len;
    char *str;
    size_t elements;
    struct tally_redisReply **element;
} tally_redisReply;

/// `redisContext` (hiredis.h, 0.14).
typedef struct tally_redisContext {
    int err;
    char errstr[128];
    int fd;
    int flags;
    char *obuf;
    void *reader;
    int connection_type;
    struct timeval *timeout;
    struct {
        char *host;
        char *source_addr;
        int port;
    } tcp;
    struct {
        char *path;
    } unix_sock;
} tally_redisContext;

/// The leading fields of `redisAsyncContext` (async.h, 0.14): the event hooks an event loop
/// fills in. The fields after `onConnect` are hiredis's own and never touched.
typedef struct tally_redisAsyncContext {
    tally_redisContext c;
    int err;
    char *errstr;
    void *data;
    struct {
        void *data;
        void (*addRead)(void *privdata);
        void (*delRead)(void *privdata);
        void (*addWrite)(void *privdata);
        void (*delWrite)(void *privdata);
        void (*cleanup)(void *privdata);
    } ev;
    void *onDisconnect;
    void *onConnect;
} tally_redisAsyncContext;

typedef void (*tally_redisCallbackFn)(tally_redisAsyncContext *ac, void *reply, void *privdata);
typedef void (*tally_redisStatusCallback)(const tally_redisAsyncContext *ac, int status);

typedef tally_redisAsyncContext *(*tally_redisAsyncConnect_fn)(const char *ip, int port);
typedef int (*tally_redisAsyncSetCallback_fn)(tally_redisAsyncContext *ac, tally_redisStatusCallback fn);
typedef void (*tally_redisAsyncContext_fn)(tally_redisAsyncContext *ac);
typedef int (*tally_redisAsyncCommandArgv_fn)(tally_redisAsyncContext *ac, tally_redisCallbackFn fn, void *privdata,
                                              int argc, const char **argv, const size_t *argvlen);

#endif
