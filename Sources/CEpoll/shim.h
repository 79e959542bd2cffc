#ifndef POOLWARDEN_CEPOLL_SHIM_H
#define POOLWARDEN_CEPOLL_SHIM_H
// Linux readiness APIs that Glibc's Swift module does not export.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
