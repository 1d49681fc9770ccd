#include "auth.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "address.h"
#include "auth_cache.h"
#include "config.h"
#include "log.h"
#include "password.h"
#include "store.h"
#include "workqueue.h"
#include "worker.h"

#define AUTH_MAX_PASSWORD 1024

struct auth_job {
	struct worker *w;
	auth_cb *cb;
	void *ctx;
	char ip[64];
	char user[ADDRESS_MAX + 1];
	char password[AUTH_MAX_PASSWORD + 1];
	char *hash;
	int64_t account_id;
	int64_t domain_id;
	bool active;
	int verified; /* 1 match, 0 mismatch, -1 error */
	enum auth_result result;
	struct event *delay;
};

static void job_free(struct auth_job *j)
{
	explicit_bzero(j->password, sizeof(j->password));
	if (j->hash != NULL) {
		explicit_bzero(j->hash, strlen(j->hash));
		free(j->hash);
	}
	if (j->delay != NULL)
		event_free(j->delay);
	free(j);
}

static void job_report(struct auth_job *j)
{
	j->cb(j->ctx, j->result, j->account_id, j->domain_id, j->user);
	job_free(j);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	job_report(arg);
}

/* Ends the job: failures count against the limits and wait out the delay. */
static void job_end(struct auth_job *j, enum auth_result r)
{
	const struct config *cfg = worker_config(j->w);
	struct timeval tv;

	j->result = r;
	explicit_bzero(j->password, sizeof(j->password));
	if (r == AUTH_OK || r == AUTH_UNAVAILABLE) {
		job_report(j);
		return;
	}
	if (r == AUTH_FAILED)
		store_auth_failure(worker_db(j->w), j->user, j->ip);
	tv.tv_sec = (time_t)(cfg->auth_fail_delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(cfg->auth_fail_delay_ms % 1000) * 1000;
	j->delay = evtimer_new(worker_base(j->w), on_delay, j);
	if (j->delay == NULL || evtimer_add(j->delay, &tv) < 0)
		panic("auth: cannot create timer");
}

static void verify_work(void *arg)
{
	struct auth_job *j = arg;
	const char *err;

	j->verified = password_verify(j->password, j->hash, &err);
	if (j->verified < 0)
		LOG(ERROR, NULL, "stored password hash of %s unusable: %s", j->user, err);
}

static void verify_done(void *arg, bool cancelled)
{
	struct auth_job *j = arg;

	if (!cancelled && j->verified == 1)
		auth_cache_add(worker_auth_cache(j->w), j->user, j->password, j->hash, time(NULL));
	if (cancelled)
		job_end(j, AUTH_UNAVAILABLE);
	else if (j->verified != 1)
		job_end(j, AUTH_FAILED);
	else
		job_end(j, j->active ? AUTH_OK : AUTH_SUSPENDED);
}

static void lookup_done(void *ctx, int found, const struct store_auth *a, const char *error)
{
	struct auth_job *j = ctx;
	const struct config *cfg = worker_config(j->w);

	if (found < 0) {
		LOG(ERROR, NULL, "auth lookup failed: %s", error);
		job_end(j, AUTH_UNAVAILABLE);
		return;
	}
	/* Limits shared by all workers and hosts; checked before the
	 * password, so guessing stops even with the right one. */
	if (a->ip_failures >= cfg->max_auth_failures_per_ip ||
	    a->user_failures >= cfg->max_auth_failures_per_account) {
		job_end(j, AUTH_LIMITED);
		return;
	}
	if (found == 0) {
		job_end(j, AUTH_FAILED);
		return;
	}
	j->account_id = a->account_id;
	j->domain_id = a->domain_id;
	j->active = a->active;
	snprintf(j->user, sizeof(j->user), "%s", a->address);
	j->hash = strdup(a->password_hash);
	if (j->hash == NULL)
		panic("auth: out of memory");
	/* Verified with this very stored hash a moment ago: no Argon2id. */
	if (auth_cache_check(worker_auth_cache(j->w), j->user, j->password, j->hash, time(NULL))) {
		j->verified = 1;
		job_end(j, j->active ? AUTH_OK : AUTH_SUSPENDED);
		return;
	}
	if (workqueue_submit(worker_workqueue(j->w), verify_work, verify_done, j) < 0) {
		LOG(WARN, NULL, "auth: password queue full");
		job_end(j, AUTH_UNAVAILABLE);
	}
}

void auth_login(struct worker *w, const char *ip, const char *user, size_t user_len,
		const char *password, size_t password_len, auth_cb *cb, void *ctx)
{
	struct auth_job *j = calloc(1, sizeof(*j));
	char raw[ADDRESS_MAX + 1];
	const char *err;

	if (j == NULL)
		panic("auth: out of memory");
	j->w = w;
	j->cb = cb;
	j->ctx = ctx;
	snprintf(j->ip, sizeof(j->ip), "%s", ip);
	if (user_len > ADDRESS_MAX || memchr(user, '\0', user_len) != NULL ||
	    password_len > AUTH_MAX_PASSWORD || memchr(password, '\0', password_len) != NULL) {
		snprintf(j->user, sizeof(j->user), "(invalid)");
		job_end(j, AUTH_FAILED);
		return;
	}
	memcpy(raw, user, user_len);
	raw[user_len] = '\0';
	if (address_normalize(raw, j->user, &err) < 0) {
		snprintf(j->user, sizeof(j->user), "(invalid)");
		job_end(j, AUTH_FAILED);
		return;
	}
	memcpy(j->password, password, password_len);
	j->password[password_len] = '\0';
	if (store_auth_lookup(worker_db(w), j->user, j->ip, lookup_done, j, &err) < 0) {
		LOG(WARN, NULL, "auth: %s", err);
		job_end(j, AUTH_UNAVAILABLE);
	}
}
