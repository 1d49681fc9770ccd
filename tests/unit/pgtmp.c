#include "pgtmp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

int pgtmp_start(struct pgtmp *pg)
{
	/* mkdtemp replaces the six trailing placeholder characters */
	snprintf(pg->dir, sizeof(pg->dir), "/tmp/mailstead-unit-");
	memset(pg->dir + strlen(pg->dir), 'X', 6);
	pg->dir[strlen("/tmp/mailstead-unit-") + 6] = '\0';
	if (mkdtemp(pg->dir) == NULL || chmod(pg->dir, 0755) < 0)
		return -1;
	snprintf(pg->conninfo, sizeof(pg->conninfo), "host=%s/run dbname=mailstead user=mailstead",
		 pg->dir);
	if (run("sh deploy/dev/pg.sh init %s/pg %s/run >/dev/null", pg->dir, pg->dir) < 0 ||
	    pgtmp_restart(pg) < 0) {
		pgtmp_destroy(pg); /* leave nothing behind */
		return -1;
	}
	return 0;
}

int pgtmp_restart(struct pgtmp *pg)
{
	return run("sh deploy/dev/pg.sh start %s/pg %s/run >/dev/null", pg->dir, pg->dir);
}

int pgtmp_stop(struct pgtmp *pg)
{
	return run("sh deploy/dev/pg.sh stop %s/pg >/dev/null", pg->dir);
}

void pgtmp_destroy(struct pgtmp *pg)
{
	if (pg->dir[0] == '\0')
		return;
	(void)pgtmp_stop(pg); /* may already be stopped */
	(void)run("rm -rf %s", pg->dir);
	pg->dir[0] = '\0';
}
