/*
 * evcurl — libcurl's multi interface driven by a libev loop.
 *
 * One evcurl owns one CURLM.  Sockets are watched with one ev_io each
 * (stored with curl_multi_assign), curl's timer re-arms a single ev_timer,
 * and finished transfers are handed to their completion callback.  Used by
 * etcdclient for every etcd call and by the agent for flintlockd.
 *
 * Ownership: the caller creates and configures each easy handle and keeps
 * owning it.  evcurl_add() borrows it until the completion callback runs
 * (the handle has then already left the multi handle, so the callback may
 * free or re-add it) or until evcurl_remove().  CURLOPT_PRIVATE belongs to
 * evcurl; do not set it.
 *
 * Never logs, never exits.
 */
#ifndef FLINTSCHED_EVCURL_H
#define FLINTSCHED_EVCURL_H

#include <curl/curl.h>

struct ev_loop;
typedef struct evcurl evcurl;

/* Called once per transfer, with curl's result for it. */
typedef void (*evcurl_done_cb)(CURL *easy, CURLcode result, void *arg);

/* Returns 0 and *ret_m, or -ENOMEM.  curl_global_init() is the caller's. */
int evcurl_new(struct ev_loop *loop, evcurl **ret_m);

/* Removes every transfer without calling its callback, then frees.
 * Accepts NULL; returns NULL. */
evcurl *evcurl_free(evcurl *m);

/* Starts a transfer.  Returns 0, -ENOMEM, or -EIO if curl refused it. */
int evcurl_add(evcurl *m, CURL *easy, evcurl_done_cb cb, void *arg);

/* Aborts a transfer started with evcurl_add(); its callback is not called.
 * Safe to call for a handle that is not (or no longer) in flight. */
void evcurl_remove(evcurl *m, CURL *easy);

/* Number of transfers in flight. */
unsigned evcurl_active(const evcurl *m);

/* The multi handle, for options such as CURLMOPT_MAX_HOST_CONNECTIONS. */
CURLM *evcurl_multi(evcurl *m);

#endif
