// Declarations only (see include/chiredis.h); this file exists because a C target needs one.
#include "chiredis.h"
