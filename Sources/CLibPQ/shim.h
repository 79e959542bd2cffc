#ifndef POOLWARDEN_CLIBPQ_SHIM_H
#define POOLWARDEN_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
