/* mailstead-admin: command-line client of mailstead-admind (admin_cli.h). */
#include <jansson.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "admin_cli.h"

/* jansson memory is wiped when freed: requests may carry a password. */
static void *wipe_malloc(size_t size)
{
	return malloc(size);
}

static void wipe_free(void *p)
{
	if (p != NULL)
		explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

int main(int argc, char **argv)
{
	json_set_alloc_funcs(wipe_malloc, wipe_free);
	return admin_cli_run(argc, argv);
}
