/* A throwaway PostgreSQL cluster for C tests that need a real database
 * (through deploy/dev/pg.sh, like the integration tests). */
#ifndef MAILSTEAD_PGTMP_H
#define MAILSTEAD_PGTMP_H

struct pgtmp {
	char dir[256];
	char conninfo[512];
};

/* Creates and starts a cluster in a new temp dir. Returns 0 or -1. */
int pgtmp_start(struct pgtmp *pg);
/* Stops the cluster (it can be started again with pgtmp_restart). */
int pgtmp_stop(struct pgtmp *pg);
int pgtmp_restart(struct pgtmp *pg);
/* Stops the cluster and removes the temp dir. */
void pgtmp_destroy(struct pgtmp *pg);

#endif
