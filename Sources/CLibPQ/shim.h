// libpq, PostgreSQL's client library (Debian: libpq-dev). Declarations only.
#include <postgresql/libpq-fe.h>
