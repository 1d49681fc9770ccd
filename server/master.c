#include "master.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MASTER_MAX_WORKERS 256
#define MASTER_BACKOFF_MIN 1
#define MASTER_BACKOFF_MAX 60
#define MASTER_QUICK_DEATH 10 /* seconds: dying sooner counts as a failure */
#define MASTER_STOP_WAIT 15

struct slot {
	pid_t pid;            /* 0 = not running */
	bool retiring;        /* replaced by a reload: not respawned */
	bool fatal;           /* exited with status 2: not respawned */
	time_t started;
	time_t respawn_at;    /* 0 = not scheduled */
	unsigned backoff;
	unsigned index;
};

struct master {
	struct config *cfg;
	SSL_CTX *tls;
	const struct worker_listener *ls;
	unsigned nls;
	struct slot slots[2 * MASTER_MAX_WORKERS]; /* current and retiring */
	unsigned nworkers;
	sigset_t sigs, oldmask;
};

static time_t now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts); /* cannot fail */
	return ts.tv_sec;
}

static unsigned worker_count(const struct config *cfg)
{
	long n;

	if (cfg->workers > 0)
		return (unsigned)cfg->workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MASTER_MAX_WORKERS ? MASTER_MAX_WORKERS : (unsigned)n;
}

static void spawn(struct master *m, struct slot *s)
{
	pid_t pid = fork();

	if (pid < 0) {
		LOG(ERROR, NULL, "fork: %s", strerror(errno));
		s->respawn_at = now_s() + s->backoff;
		return;
	}
	if (pid == 0) {
		/* The worker handles its signals through libevent. */
		if (sigprocmask(SIG_SETMASK, &m->oldmask, NULL) < 0)
			fatal("worker: sigprocmask: %s", strerror(errno));
		log_init("imapd-worker", LOG_LEVEL_INFO);
		{
			enum log_level lvl;
			if (log_level_parse(m->cfg->log_level, &lvl) == 0)
				log_set_level(lvl);
		}
		worker_run(m->cfg, m->tls, m->ls, m->nls, s->index);
	}
	s->pid = pid;
	s->started = now_s();
	s->respawn_at = 0;
	LOG(INFO, NULL, "started worker %u (pid %ld)", s->index, (long)pid);
}

static struct slot *slot_of(struct master *m, pid_t pid)
{
	for (unsigned i = 0; i < 2 * MASTER_MAX_WORKERS; i++)
		if (m->slots[i].pid == pid)
			return &m->slots[i];
	return NULL;
}

/* Reaps every dead child and schedules respawns. */
static void reap(struct master *m, bool stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct slot *s = slot_of(m, pid);
		bool quick;

		if (s == NULL)
			continue;
		s->pid = 0;
		quick = now_s() - s->started < MASTER_QUICK_DEATH;
		if (WIFEXITED(status))
			LOG(stopping || s->retiring ? INFO : ERROR, NULL,
			    "worker %u (pid %ld) exited with status %d", s->index, (long)pid,
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			LOG(ERROR, NULL, "worker %u (pid %ld) killed by signal %d%s", s->index,
			    (long)pid, WTERMSIG(status), WCOREDUMP(status) ? " (core dumped)" : "");
		if (stopping || s->retiring) {
			s->retiring = false;
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
			/* A fatal start-up error: respawning would only repeat it. */
			s->fatal = true;
			continue;
		}
		if (quick) {
			s->respawn_at = now_s() + s->backoff;
			LOG(WARN, NULL, "respawning worker %u in %u s", s->index, s->backoff);
			s->backoff = s->backoff * 2 > MASTER_BACKOFF_MAX ? MASTER_BACKOFF_MAX
									   : s->backoff * 2;
		} else {
			s->backoff = MASTER_BACKOFF_MIN;
			s->respawn_at = now_s();
		}
	}
}

static bool all_fatal(const struct master *m)
{
	for (unsigned i = 0; i < m->nworkers; i++)
		if (!m->slots[i].fatal)
			return false;
	return true;
}

static void stop_all(struct master *m)
{
	struct timespec ts = {1, 0};
	time_t deadline = now_s() + MASTER_STOP_WAIT;
	bool any;

	for (unsigned i = 0; i < 2 * MASTER_MAX_WORKERS; i++)
		if (m->slots[i].pid > 0)
			(void)kill(m->slots[i].pid, SIGTERM); /* it may be gone already */
	for (;;) {
		reap(m, true);
		any = false;
		for (unsigned i = 0; i < 2 * MASTER_MAX_WORKERS; i++)
			any |= m->slots[i].pid > 0;
		if (!any)
			return;
		if (now_s() >= deadline)
			break;
		(void)sigtimedwait(&m->sigs, NULL, &ts); /* wakes on SIGCHLD or after 1 s */
	}
	for (unsigned i = 0; i < 2 * MASTER_MAX_WORKERS; i++)
		if (m->slots[i].pid > 0) {
			LOG(WARN, NULL, "worker pid %ld did not stop: killing", (long)m->slots[i].pid);
			(void)kill(m->slots[i].pid, SIGKILL);
		}
	while (waitpid(-1, NULL, 0) > 0)
		;
}

/* SIGHUP: a new config and a new generation of workers on the same
 * listeners; the old generation is told to stop. */
static void reload(struct master *m, const char *path, char *const *ov, unsigned nov)
{
	struct config fresh;
	const char *err;
	unsigned n;

	config_defaults(&fresh);
	if (config_load(&fresh, path, &err) < 0) {
		LOG(ERROR, NULL, "reload failed, keeping the old config: %s", err);
		config_free(&fresh);
		return;
	}
	for (unsigned i = 0; i < nov; i++)
		if (config_set(&fresh, ov[i], &err) < 0) {
			LOG(ERROR, NULL, "reload failed, keeping the old config: %s", err);
			config_free(&fresh);
			return;
		}
	if (strcmp(fresh.imap_listen, m->cfg->imap_listen) != 0 ||
	    strcmp(fresh.imaps_listen, m->cfg->imaps_listen) != 0 ||
	    strcmp(fresh.tls_cert, m->cfg->tls_cert) != 0 ||
	    strcmp(fresh.tls_key, m->cfg->tls_key) != 0 || strcmp(fresh.user, m->cfg->user) != 0)
		LOG(WARN, NULL, "reload: listener, TLS and user changes need a restart");
	config_free(m->cfg);
	*m->cfg = fresh;
	/* Move the current generation to the retiring half. */
	for (unsigned i = 0; i < m->nworkers; i++) {
		struct slot *old = &m->slots[MASTER_MAX_WORKERS + i];
		if (m->slots[i].pid > 0) {
			if (old->pid > 0)
				(void)kill(old->pid, SIGKILL); /* a reload during a reload */
			*old = m->slots[i];
			old->retiring = true;
			(void)kill(old->pid, SIGTERM);
		}
		memset(&m->slots[i], 0, sizeof(m->slots[i]));
	}
	n = worker_count(m->cfg);
	m->nworkers = n;
	for (unsigned i = 0; i < n; i++) {
		m->slots[i].index = i;
		m->slots[i].backoff = MASTER_BACKOFF_MIN;
		spawn(m, &m->slots[i]);
	}
	LOG(INFO, NULL, "reloaded: %u workers", n);
}

int master_run(struct config *cfg, const char *config_path, char *const *overrides,
	       unsigned noverrides, SSL_CTX *tls_ctx, const struct worker_listener *ls,
	       unsigned nls)
{
	static struct master master;
	struct master *m = &master;

	m->cfg = cfg;
	m->tls = tls_ctx;
	m->ls = ls;
	m->nls = nls;
	sigemptyset(&m->sigs);
	sigaddset(&m->sigs, SIGCHLD);
	sigaddset(&m->sigs, SIGTERM);
	sigaddset(&m->sigs, SIGINT);
	sigaddset(&m->sigs, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &m->sigs, &m->oldmask) < 0)
		fatal("sigprocmask: %s", strerror(errno));
	m->nworkers = worker_count(cfg);
	for (unsigned i = 0; i < m->nworkers; i++) {
		m->slots[i].index = i;
		m->slots[i].backoff = MASTER_BACKOFF_MIN;
		spawn(m, &m->slots[i]);
	}
	for (;;) {
		struct timespec ts = {1, 0};
		int sig = sigtimedwait(&m->sigs, NULL, &ts);
		time_t t;

		if (sig == SIGTERM || sig == SIGINT) {
			LOG(INFO, NULL, "stopping");
			stop_all(m);
			LOG(INFO, NULL, "stopped");
			return 0;
		}
		if (sig == SIGHUP)
			reload(m, config_path, overrides, noverrides);
		reap(m, false);
		if (all_fatal(m)) {
			LOG(ERROR, NULL, "every worker failed to start: giving up");
			stop_all(m);
			return 2;
		}
		t = now_s();
		for (unsigned i = 0; i < m->nworkers; i++) {
			struct slot *s = &m->slots[i];
			if (s->pid == 0 && !s->fatal && s->respawn_at != 0 && s->respawn_at <= t)
				spawn(m, s);
		}
	}
}
